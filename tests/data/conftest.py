"""Compose a `data` config as the CLI would, with overrides, for sources reading files a test wrote."""

from __future__ import annotations

import pytest

from tests.conftest import compose


@pytest.fixture
def data_cfg(tmp_path):
    def make(data: str, *overrides: str):
        return compose([f"data={data}", *overrides], tmp_path).data

    return make


# A 20-line interactions CSV with its own column names: 5 users, 8 items; G and H are the newest
# items (first seen at t=17, 19) and have 3 and 4 users, so cold_item holds them out with seeds.
ROWS = [
    ("u1", "A", 1, 5), ("u1", "B", 2, 4), ("u1", "C", 3, 3), ("u1", "G", 17, 5),
    ("u2", "A", 4, 2), ("u2", "D", 5, 4), ("u2", "G", 18, 5), ("u2", "H", 19, 3),
    ("u3", "B", 7, 4), ("u3", "C", 8, 4), ("u3", "F", 9, 1), ("u3", "H", 20, 5),
    ("u4", "A", 10, 3), ("u4", "D", 11, 5), ("u4", "F", 12, 2), ("u4", "G", 21, 4), ("u4", "H", 22, 4),
    ("u5", "C", 13, 5), ("u5", "E", 14, 3), ("u5", "H", 23, 2),
]
ITEMS = [("A", "Alpha lamp", "home|light"), ("B", "Beta mug", "kitchen"), ("C", "Gamma pan", "kitchen|cook"),
         ("D", "Delta rug", "home"), ("E", "Eps kettle", "kitchen"), ("F", "Zeta sofa", "home|living"),
         ("G", "Eta fork", "kitchen|cutlery"), ("H", "Theta desk", "office"), ("Z", "never bought", "misc")]
USERS = [("u1", "18-24", "Lyon"), ("u2", "25-34", "Oslo"), ("u3", "25-34", "Lyon"), ("u4", "35-44", ""),
         ("u5", "18-24", "Oslo")]


def write_csv_set(folder):
    """interactions.csv (uid, sku, ts, stars), items.csv (sku, name, genre), users.csv (uid, age_group, city)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "interactions.csv").write_text("uid,sku,ts,stars\n" + "".join(f"{u},{i},{t},{r}\n" for u, i, t, r in ROWS))
    (folder / "items.csv").write_text("sku,name,genre\n" + "".join(f"{i},{n},{g}\n" for i, n, g in ITEMS))
    (folder / "users.csv").write_text("uid,age_group,city\n" + "".join(f"{u},{a},{c}\n" for u, a, c in USERS))
    return folder


CSV_FIELDS = ["data.source.user_id_field=uid", "data.source.item_id_field=sku", "data.source.time_field=ts",
              "data.source.rating_field=stars", "data.source.title_field=name", "data.source.category_field=genre",
              "data.source.items=items.csv", "data.source.users=users.csv"]


def write_atomic_set(folder, name="shop"):
    """The same data as RecBole atomic files in `folder/name/`, ml-100k style field names."""
    d = folder / name
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.inter").write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                                     + "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, t, r in ROWS))
    (d / f"{name}.item").write_text("item_id:token\tmovie_title:token_seq\tclass:token_seq\n"
                                    + "".join(f"{i}\t{n}\t{g.replace('|', ' ')}\n" for i, n, g in ITEMS))
    (d / f"{name}.user").write_text("user_id:token\tage:token\tcity:token\n"
                                    + "".join(f"{u}\t{a}\t{c}\n" for u, a, c in USERS))
    return d


ATOMIC_FIELDS = ["data.source.title_field=movie_title", "data.source.category_field=class"]
