"""`foley library …`: search, list, add and remove sound templates from the command line.

A thin layer over the Python API in appliance.library (the web service calls the same
functions), so the CLI and the service can never disagree on what a valid sound is.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from appliance.cli_args import at_least
from appliance.errors import UsageError
from appliance.library.catalog import Catalog
from appliance.library.search import Searcher
from appliance.library.store import UserLibrary
from appliance.os_text import check_text_options


def register(subparsers) -> None:
    parser = subparsers.add_parser("library", help="search, list, add and remove sound templates")
    commands = parser.add_subparsers(dest="library_command", metavar="SUBCOMMAND", required=True)

    search = commands.add_parser("search", help="rank templates for a text description")
    search.add_argument("query", help='what the sound is, e.g. "footsteps on gravel"')
    search.add_argument("-k", "--top", type=at_least("-k"), default=10, help="how many matches to print (at least 1)")
    search.set_defaults(handler=_search)

    listing = commands.add_parser("list", help="list templates (bundled and user)")
    listing.add_argument("--category", help="only this category")
    listing.add_argument("--user", action="store_true", help="only user templates")
    listing.add_argument("--categories", action="store_true", help="list the categories instead")
    listing.set_defaults(handler=_list)

    add = commands.add_parser("add", help="add a sound file (wav, flac, ogg, mp3; any rate/channels)")
    add.add_argument("file", type=Path, help="the sound file")
    add.add_argument("--category", required=True, help="one of `foley library list --categories`")
    add.add_argument("--tags", default="", help="comma-separated words, e.g. 'door,wood,slam'")
    add.add_argument("--description", default="", help="one line saying what the sound is")
    add.add_argument("--licence", "--license", dest="licence", help="licence id (needed with --shared)")
    add.add_argument("--author", default="", help="who recorded it (credited in attributions)")
    add.add_argument("--shared", action="store_true", help="the library is shared with others: require a licence")
    add.set_defaults(handler=_add)

    teach = commands.add_parser("teach", help="learn the sounds of a clip's actions, with their pictures")
    teach.add_argument("clip", type=Path, help="a clip WITH its own sound")
    teach.add_argument("--category", required=True, help="one of `foley library list --categories`")
    teach.add_argument("--tags", default="", help="comma-separated words")
    teach.add_argument("--licence", "--license", dest="licence", help="licence id (default: your own, private)")
    teach.add_argument("--author", default="", help="who recorded it")
    teach.add_argument("--max", type=int, default=8, help="at most this many sounds from the clip")
    teach.set_defaults(handler=_teach)

    remove = commands.add_parser("remove", help="remove a user template by id (results that used it keep it)")
    remove.add_argument("id", help="the template id (see `foley library list --user`)")
    remove.set_defaults(handler=_remove)


def _search(args: argparse.Namespace) -> int:
    check_text_options(args, "query")
    catalog = Catalog.load()
    for rank, match in enumerate(Searcher(catalog).search(args.query, k=args.top), 1):
        t = match.template
        print(f"{rank:2d}. {match.score:.3f}  {t.id:55s} {t.category:17s} {t.licence:12s} {t.description}")
    return 0


def _list(args: argparse.Namespace) -> int:
    if args.categories and (args.category is not None or args.user):
        raise UsageError("--categories lists the categories, not templates: give it without --category or --user")
    catalog = Catalog.load()
    if args.category is not None:
        catalog.category(args.category)
    if args.categories:
        for category in catalog.categories.values():
            count = len(catalog.in_category(category.name))
            print(f"{category.name:18s} {category.kind:9s} {count:4d}  {category.description}")
        return 0
    for t in catalog.templates:
        if (args.category and t.category != args.category) or (args.user and t.origin != "user"):
            continue
        print(f"{t.id:55s} {t.category:17s} {t.duration:6.2f}s {'loop ' if t.loop else '     '}{t.licence:12s} {t.origin}")
    print(f"# library version {catalog.version}, {len(catalog.templates)} templates")
    return 0


def _add(args: argparse.Namespace) -> int:
    check_text_options(args, "description", "tags", "author")
    template = UserLibrary(shared=args.shared).add(
        args.file, args.category, tags=args.tags, licence=args.licence, author=args.author, description=args.description
    )
    print(f"added {template.id} ({template.duration:.2f} s, attack at {template.attack_time * 1000:.0f} ms, "
          f"{template.loudness_lufs:.1f} LUFS, licence {template.licence})")
    return 0


def _teach(args: argparse.Namespace) -> int:
    from appliance.engine.teach import handle  # the engine (motion, vision) only when teaching

    check_text_options(args, "tags", "author")
    return handle(args)


def _remove(args: argparse.Namespace) -> int:
    template = UserLibrary().remove(args.id)
    print(f"removed {template.id} from the library (its recording is kept for the results that use it)")
    return 0
