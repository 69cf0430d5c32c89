"""No two organisations under one parent share a name (compared case-insensitively, as a person reads them).

Two customers called "Stadtwerke Nord" below one manufacturer could not be told apart in the batch dialog's
organisation list, and a batch addressed to the wrong one hands over keys. A unique index on the parent and
the lower-cased name refuses a second one, also when two administrators create them at the same moment (the
resolver's check alone would let both pass).

Organisations that already share a name with an older sibling are renamed "<name> (2)", "<name> (3)", ...
(the oldest keeps its name), so the index can be built; their administrators see the new name and can change
it. SQLite's lower() folds ASCII letters only; PostgreSQL's folds every letter.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

INDEX = "organisations_sibling_name"


async def forwards(apps, schema_editor):
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    parent = "parent_id::text" if postgres else "parent_id"
    # The database folds the case, as its index will: Python's lower() differs on some letters ("İ", "Σ").
    _, rows = await client.execute_query(
        f"SELECT id, COALESCE({parent}, '') AS parent, name, lower(name) AS folded FROM organisations "  # noqa: S608
        "ORDER BY created_at, id"
    )

    async def folded(name: str) -> str:
        _, found = await client.execute_query("SELECT lower($1::text) AS f" if postgres else "SELECT lower(?) AS f", [name])
        return str(found[0]["f"])

    taken = {(row["parent"], row["folded"]) for row in rows}
    seen: set[tuple[str, str]] = set()
    for row in rows:
        key = (row["parent"], row["folded"])
        if key not in seen:
            seen.add(key)
            continue
        number = 2
        while (row["parent"], await folded(_numbered(row["name"], number))) in taken:
            number += 1
        renamed = _numbered(row["name"], number)
        taken.add((row["parent"], await folded(renamed)))
        await client.execute_query(
            "UPDATE organisations SET name = $1 WHERE id = $2"
            if postgres
            else "UPDATE organisations SET name = ? WHERE id = ?",
            [renamed, row["id"]],
        )
    await client.execute_script(
        f"CREATE UNIQUE INDEX IF NOT EXISTS {INDEX} ON organisations (COALESCE({parent}, ''), lower(name))"
    )


def _numbered(name: str, number: int) -> str:
    suffix = f" ({number})"
    return name[: 200 - len(suffix)] + suffix  # names have at most 200 characters


async def backwards(apps, schema_editor):
    await schema_editor.client.execute_script(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("models", "0017_pending_batch_membership")]

    initial = False

    operations = [ops.RunPython(forwards, backwards)]
