"""The single boundary with the user: arguments, messages, exit codes, logging setup.

Every ``ResanaError`` becomes one French sentence on stderr and its exit code; a
traceback is shown only with ``--debug``. Nothing else in the package prints.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import ResanaError, UsageError

EXIT_OK = 0
EXIT_REJECTED_ROWS = 1
EXIT_UNEXPECTED = 70
EXIT_INTERRUPTED = 130

log = logging.getLogger("resana_sync")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose, args.debug)
    try:
        return args.handler(args)
    except ResanaError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"Erreur : {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("Interrompu.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:  # noqa: BLE001 - the boundary: a bug must still end in one clear sentence
        if args.debug:
            traceback.print_exc()
        print(
            "Erreur inattendue du programme. Relancez la même commande avec --debug pour voir le détail, "
            "puis signalez-le.",
            file=sys.stderr,
        )
        return EXIT_UNEXPECTED


class FrenchParser(argparse.ArgumentParser):
    """argparse speaks English; the people running this read French."""

    _PHRASES = (
        ("unrecognized arguments", "arguments inconnus"),
        ("the following arguments are required", "arguments obligatoires manquants"),
        ("invalid choice", "choix inconnu"),
        ("choose from", "possibles"),
        ("expected one argument", "une valeur est attendue"),
        ("not allowed with argument", "incompatible avec"),
        ("argument ", "option "),
    )

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        kwargs.setdefault("add_help", False)
        super().__init__(*args, **kwargs)
        self._positionals.title = "arguments"
        self._optionals.title = "options"
        if not any(a.dest == "help" for a in self._actions) and kwargs.get("prog") != "_parent":
            self.add_argument("-h", "--help", action="help", help="afficher cette aide")

    def error(self, message: str) -> None:  # type: ignore[override]
        for english, french in self._PHRASES:
            message = message.replace(english, french)
        self.print_usage(sys.stderr)
        self.exit(2, f"Erreur : {message}. Voir « resana-sync --help ».\n")

    def format_usage(self) -> str:
        return super().format_usage().replace("usage:", "utilisation :", 1)

    def format_help(self) -> str:
        return super().format_help().replace("usage:", "utilisation :", 1)


def build_parser() -> argparse.ArgumentParser:
    common = FrenchParser(prog="_parent")
    common.add_argument("--debug", action="store_true", help="afficher le détail technique des erreurs")
    common.add_argument("-v", "--verbose", action="store_true", help="afficher le déroulement")

    remote = FrenchParser(prog="_parent")
    remote.add_argument("--config", type=Path, help="fichier de configuration TOML")
    where = remote.add_mutually_exclusive_group()
    where.add_argument("--local", type=Path, metavar="DOSSIER",
                       help="dossier de l'espace synchronisé par le client RESANA")
    where.add_argument("--webdav", metavar="URL",
                       help="adresse WebDAV de l'espace (identifiants : RESANA_SYNC_USER / RESANA_SYNC_PASSWORD)")
    remote.add_argument("--state-dir", type=Path, help="dossier de l'état local (SQLite)")

    parser = FrenchParser(
        prog="resana-sync",
        description="Fusionne les fiches déposées par les partenaires dans le tableau de suivi partagé.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"resana-sync {__version__}",
                        help="afficher la version")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMANDE", parser_class=FrenchParser,
                                title="commandes")

    run = sub.add_parser("run", parents=[common, remote], help="synchroniser maintenant")
    run.add_argument("--dry-run", action="store_true", help="montrer ce qui changerait, sans rien écrire")
    run.set_defaults(handler=cmd_run)

    validate = sub.add_parser("validate", parents=[common], help="vérifier des fiches avant de les déposer")
    validate.add_argument("files", nargs="+", type=Path, metavar="FICHIER")
    validate.add_argument("--structure", default="", help="nom de la structure (dossier de dépôt)")
    validate.set_defaults(handler=cmd_validate)

    template = sub.add_parser("template", parents=[common], help="écrire la fiche de situation vierge")
    template.add_argument("out", nargs="?", type=Path, default=Path("Fiche de situation.xlsx"), metavar="FICHIER")
    template.set_defaults(handler=cmd_template)

    check = sub.add_parser("check", parents=[common, remote], help="vérifier la configuration et l'accès à l'espace")
    check.set_defaults(handler=cmd_check)

    status = sub.add_parser("status", parents=[common, remote], help="dernières synchronisations")
    status.set_defaults(handler=cmd_status)

    serve = sub.add_parser("serve", parents=[common, remote],
                           help="service planifié : chaque nuit et avant chaque réunion")
    serve.set_defaults(handler=cmd_serve)

    demo = sub.add_parser("demo", parents=[common], help="démonstration sur un serveur WebDAV local fictif")
    demo.add_argument("--output", type=Path, default=Path("resana-sync-demo"), metavar="DOSSIER",
                      help="où laisser le tableau et les retours (par défaut : ./resana-sync-demo)")
    demo.set_defaults(handler=cmd_demo)
    return parser


def configure_logging(verbose: bool, debug: bool) -> None:
    # By default only errors: what a person must know is in the French summary and warnings
    # printed at the end; -v shows the progress, --debug everything (in English, for developers).
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.ERROR
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    log.setLevel(level)


# --- commands -----------------------------------------------------------------


def load_settings_from(args: argparse.Namespace):
    from .config import load_settings

    flags = {
        "remote.type": "local" if args.local else "webdav" if args.webdav else None,
        "remote.path": str(args.local) if args.local else None,
        "remote.url": args.webdav,
        "state.dir": str(args.state_dir) if args.state_dir else None,
    }
    return load_settings(args.config, flags=flags)


def cmd_run(args: argparse.Namespace) -> int:
    from .runner import run_once

    settings = load_settings_from(args)
    report = run_once(settings, dry_run=args.dry_run, trigger="manuel")
    print(format_run_report(report))
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from .runner import validate_files

    results = validate_files(args.files, structure=args.structure, today=dt.date.today())
    from .reports import text_report

    print(text_report(results, checking=True))
    from .records import Outcome

    return EXIT_REJECTED_ROWS if any(r.rejected_rows or r.outcome is Outcome.REJECTED for r in results) else EXIT_OK


def cmd_template(args: argparse.Namespace) -> int:
    from .schema import load_schema
    from .template import build_template

    if args.out.suffix.lower() != ".xlsx":
        raise UsageError(f"La fiche vierge est un classeur Excel : donnez un nom en .xlsx, pas « {args.out.name} ».")
    try:
        args.out.write_bytes(build_template(load_schema()))
    except OSError as exc:
        raise UsageError(f"Impossible d'écrire {args.out} ({exc.strerror}) : vérifiez que le dossier existe.") from exc
    print(f"Fiche vierge écrite : {args.out.resolve()}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from .runner import check_access

    settings = load_settings_from(args)
    for line in check_access(settings):
        print(line)
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    """Reads only the local state: no remote needed unless a config file is given."""
    import os

    from .config import default_state_dir
    from .runner import status_lines

    if args.config or args.local or args.webdav:
        settings = load_settings_from(args)
        state_dir, timezone = settings.state_dir, settings.timezone
    else:
        env_dir = os.environ.get("RESANA_SYNC_STATE_DIR")
        state_dir = args.state_dir or (Path(env_dir) if env_dir else default_state_dir(os.environ))
        timezone = "Europe/Paris"
    for line in status_lines(state_dir, timezone):
        print(line)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from .runner import last_success, run_once
    from .service import serve

    settings = load_settings_from(args)
    log.setLevel(min(log.level, logging.INFO))  # a service's journal says when it ran
    serve(settings, lambda trigger: run_once(settings, trigger=trigger), last_success(settings))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    result = run_demo(args.output)
    print(format_run_report(result.report))
    print()
    print(f"Tableau de suivi partagé : {result.workbook}")
    if result.reports:
        print(f"Retours aux partenaires : {result.reports_dir}")
    print(f"Dossier de la démonstration : {result.output}")
    return EXIT_OK


# --- output -----------------------------------------------------------------------


def format_run_report(report) -> str:
    from .records import Outcome

    o = report.outcomes
    title = "Simulation (rien n'a été écrit)" if report.dry_run else "Synchronisation terminée"
    lines = [
        f"{title} — {report.started_at:%d/%m/%Y %H:%M}",
        f"  Fichiers vus : {len(report.files)} (importés : {o[Outcome.IMPORTED]}, mis à jour : "
        f"{o[Outcome.UPDATED]}, déjà importés : {o[Outcome.UNCHANGED]}, rejetés : {o[Outcome.REJECTED]}, "
        f"ignorés : {o[Outcome.IGNORED]}, reportés : {o[Outcome.DEFERRED]})",
        f"  Lignes rejetées : {report.rejected_rows}",
        f"  Situations : {report.situations} ; contributions : {report.contributions}",
    ]
    if report.dry_run:
        lines.append("  Changements prévus :" if report.plan_lines else "  Aucun changement prévu.")
        lines.extend(f"    - {line}" for line in report.plan_lines)
    elif report.pushed and report.workbook_created:
        lines.append("  Tableau partagé créé.")
    elif report.pushed:
        lines.append("  Tableau partagé mis à jour (copie de l'ancienne version dans Archives).")
    elif not report.workbook_changed:
        lines.append("  Rien de nouveau : le tableau partagé n'a pas été modifié.")
    if report.reports_written:
        lines.append(f"  Retours écrits pour : {', '.join(report.reports_written)}")
    lines.extend(f"  Attention : {w}" for w in report.warnings)
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
