"""data=ml1m on small files written in GroupLens' exact format: `::`-separated, Latin-1, no header."""

import numpy as np
import pytest

from coldstart_exp.data.errors import DataError
from coldstart_exp.data.loading import load_tables

RATINGS = ["1::1193::5::978300760", "1::661::3::978302109", "2::1193::4::978298413", "2::3408::2::978299000",
           "1::3408::4::978301968"]
USERS = ["1::F::1::10::48067", "2::M::56::16::70072", "3::M::25::15::55117"]
MOVIES = ["1193::One Flew Over the Cuckoo's Nest (1975)::Drama", "661::James and the Giant Peach (1996)::Animation|Children's|Musical",
          "3408::Misérables, Les (1995)::Drama|Musical", "9999::Never Rated (2000)::Comedy"]


def _write(root, ratings=RATINGS, users=USERS, movies=MOVIES):
    d = root / "ml-1m"
    d.mkdir(parents=True, exist_ok=True)
    for name, lines in (("ratings.dat", ratings), ("users.dat", users), ("movies.dat", movies)):
        (d / name).write_bytes("".join(x + "\n" for x in lines).encode("latin-1"))
    return root


def test_reads_grouplens_files(tmp_path, data_cfg):
    t = load_tables(data_cfg("ml1m", f"data.source.dir={_write(tmp_path)}"), None)
    assert (t.n_users, t.n_items, len(t.interactions)) == (2, 3, 5)
    assert t.interactions.rating.tolist() == [5.0, 3.0, 4.0, 2.0, 4.0]
    m = int(np.flatnonzero(t.item_ids == "3408")[0])
    assert t.items.title[m] == "Misérables, Les (1995)" and t.items.year[m] == "1995"  # Latin-1 decoded
    assert t.items.categories[m] == ["Drama", "Musical"] and t.items.text[m].endswith("Genres: Drama, Musical.")
    assert t.profile_fields == ["gender", "age", "occupation", "zip_code"]
    u2 = t.users.loc[int(np.flatnonzero(t.user_ids == "2")[0])]
    assert (u2.gender, u2.age, u2.occupation) == ("M", "56+", "self-employed")
    assert t.report["users_without_ratings"] == 1 and t.report["movies_without_ratings"] == 1


def test_missing_file(tmp_path, data_cfg):
    _write(tmp_path)
    (tmp_path / "ml-1m" / "users.dat").unlink()
    with pytest.raises(DataError, match=r"ml1m: expected .* in .*ml-1m .*missing \['users\.dat'\]"):
        load_tables(data_cfg("ml1m", f"data.source.dir={tmp_path}"), None)


def test_malformed_rows_name_file_line_field(tmp_path, data_cfg):
    _write(tmp_path, ratings=[*RATINGS[:2], "2::1193::four::978298413"])
    with pytest.raises(DataError, match=r"ratings\.dat:3: field 'rating': not a number: 'four'"):
        load_tables(data_cfg("ml1m", f"data.source.dir={tmp_path}"), None)
    _write(tmp_path, ratings=[*RATINGS[:2], "2,1193,4,978298413"])  # a CSV line: wrong separator
    with pytest.raises(DataError, match=r"ratings\.dat:3: field '<row>': expected 4 fields .* separated by '::', found 1"):
        load_tables(data_cfg("ml1m", f"data.source.dir={tmp_path}"), None)
    _write(tmp_path, users=[*USERS[:2], "3::M::26::15::55117"])
    with pytest.raises(DataError, match=r"users\.dat:3: field 'age': cannot read '26': not a MovieLens-1M age code"):
        load_tables(data_cfg("ml1m", f"data.source.dir={tmp_path}"), None)
