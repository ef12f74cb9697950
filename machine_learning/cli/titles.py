"""Title commands: ``mlops title create|list|delete`` (several game titles in one install)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from machine_learning.settings import Settings


def _create(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.titles.create import check_new_title, connect_titles, create_title, local_runner

    check_new_title(args.name, settings)  # refused offline, before any connection
    services = connect_titles(settings, local_runner if args.local else None, on_progress=print)
    create_title(args.name, settings, services, args.from_csv, on_progress=print)


def _list(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.titles.create import connect_titles
    from machine_learning.titles.listing import describe_titles, format_titles

    states = describe_titles(settings, connect_titles(settings))
    if args.json:
        print(json.dumps([state.to_dict() for state in states], indent=2))
        return
    print("\n".join(format_titles(states)))


def _delete(args: argparse.Namespace, settings: Settings) -> None:
    from machine_learning.errors import InvalidInputError
    from machine_learning.titles.create import connect_titles
    from machine_learning.titles.delete import delete_title, find_deletion
    from machine_learning.titles.projects import delete_title_project, find_title_project
    from machine_learning.titles.validation import check_title_name

    check_title_name(args.name)
    if args.name == settings.game_title and not args.force:
        raise InvalidInputError(
            f"{args.name!r} is the default title (GAME_TITLE); refusing to delete it without --force"
        )
    if not args.dry_run and not args.yes:
        raise InvalidInputError(f"deleting {args.name} cannot be undone: add --yes (or --dry-run to only list)")
    services = connect_titles(settings)
    if args.dry_run:
        found = find_deletion(args.name, settings, services, find_title_project)
        print(f"dry run: deleting {args.name} would remove")
        print("\n".join(f"  {line}" for line in found.describe()))
        return
    delete_title(args.name, settings, services, (find_title_project, delete_title_project), args.force)


def add_commands(commands: Any) -> None:
    """Register ``mlops title ...`` on the ``mlops`` sub-command parser."""
    title = commands.add_parser("title", help="create, list and delete game titles (projects) of this install")
    verbs = title.add_subparsers(required=True, metavar="ACTION")
    create = verbs.add_parser("create", help="set up a title and take it from a CSV to a production model")
    create.add_argument("name", help="lowercase letters, digits and dashes, 3-42 characters")
    create.add_argument("--from-csv", metavar="FILE", help="seed player CSV (local, .gz or s3:// in the bucket)")
    create.add_argument(
        "--local", action="store_true", help="run the first loop in this process instead of the Mage server"
    )
    create.set_defaults(command=_create)
    listing = verbs.add_parser("list", help="each title's state, production version, last runs and decision")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(command=_list)
    delete = verbs.add_parser("delete", help="delete a title's data, models, project and triggers")
    delete.add_argument("name")
    delete.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    delete.add_argument("--yes", action="store_true", help="really delete (required unless --dry-run)")
    delete.add_argument("--force", action="store_true", help="allow deleting the default title (GAME_TITLE)")
    delete.set_defaults(command=_delete)
