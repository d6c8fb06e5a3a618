"""The `takedown-scan` console script: `takedown-scan COMMAND ...` runs pipelines.COMMAND."""
import importlib
import logging
import os
import sys
from typing import List, Optional

# Each command's module is imported only when it runs: those that run no pipeline (report, review,
# serve, act, feedback) then start without importing Apache Beam, which alone takes over a second.
COMMANDS = ("scan", "rematch", "compact", "sync", "report", "review", "serve", "act", "feedback", "tmk")
USAGE = """usage: takedown-scan COMMAND [options]
  scan     --media URI --registry URI --output URI [--config FILE] [Beam options]
           list, hash what is new or changed, match stored hashes against new entries, report
  rematch  --hashes URI --registry URI --output URI [--since VERSION]
           the stored hashes against a registry version, no media read
  compact  --hashes URI
           rewrite the hash store's live rows into one run now (scans do it when it is due)
  sync     ncmec|stopncii --registry ROOT [--api-url URL] [--since TIME] [--keep N]
           fetch what a registry feed changed and write a new version of ROOT
  report   OUTPUT [--run RUN_ID | --since DATE] [--csv FILE] [--html FILE]
           a summary of the runs, the review queue, the entries the flood guard held back
  review   OUTPUT --match MATCH_ID --verdict confirmed|false_match [--note TEXT] [--suppress entry|hash]
           record a verdict on a match; later queues leave it out
  serve    OUTPUT [--port 8765] [--host 127.0.0.1] [--since DATE]
           the review desk: the queue and its clock in the browser, verdicts recorded from it
  act      OUTPUT --rules FILE [--dry_run]
           judged matches into actions: tags, quarantine copies or moves, webhooks; logged once each
  feedback OUTPUT --to ncmec|stopncii --out DIR [--send]
           the verdicts as NCMEC feedback XML or StopNCII SubmitFeedback JSON
  tmk      hash VIDEO... --out DIR | compare A B
           TMK+PDQF .tmk files of videos (the reference's format), the scores of two
each command has its own --help"""


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)  # asked for: on stdout, so that `takedown-scan --help | less` shows it
        return 0
    if not argv or argv[0] not in COMMANDS:
        print(USAGE, file=sys.stderr)
        return 2
    return importlib.import_module(f"pipelines.{argv[0]}").main(argv[1:])


def run() -> None:
    """The console script: main(), then an exit that does not wait on threads. Native threads
    that libraries leave behind (Arrow's and gRPC's pools) could abort the process while C++
    tears them down at exit ("terminate called without an active exception", exit 134) after
    the command had done its work and said so."""
    status = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`): nothing more to say
            status = status or 1
    os._exit(status)


if __name__ == "__main__":
    run()
