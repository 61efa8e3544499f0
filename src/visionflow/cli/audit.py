"""`visionflow audit RUN [DIR]`: a membership-inference audit of a trained classifier.

Attacks a classification or multi-label run as a membership-inference attacker would (loss and
confidence thresholds, a per-class likelihood ratio) and reports how well each tells the run's
training images from held-out ones: ROC AUC with a bootstrap 95% interval, TPR at 1% and 0.1%
FPR, advantage. Writes audit.json and roc.png into RUN/audit (or --out).
"""

from __future__ import annotations

import argparse

from visionflow.cli.common import command


def add(sub) -> None:
    a = command(sub, __doc__, "Membership-inference audit: can its training images be told from others?")
    a.add_argument("run", metavar="RUN", help="A run folder from visionflow train.")
    a.add_argument("data", metavar="DIR", nargs="?",
                   help="Held-out labelled images (a folder as visionflow evaluate takes) to use as non-members; "
                        "default: the run's validation and test images.")
    a.add_argument("--out", metavar="DIR", help="Where audit.json and roc.png go (default: RUN/audit).")
    a.add_argument("--max-images", type=int, default=2000, metavar="N",
                   help="At most N training and N held-out images, a seeded sample (default: 2000).")
    a.add_argument("--seed", type=int, default=0, help="Seed of the sample, the halves and the bootstrap (default: 0).")


def run(args: argparse.Namespace) -> int:
    from visionflow.privacy.audit import audit

    if args.max_images < 10:
        from visionflow.errors import ConfigError

        raise ConfigError(f"--max-images must be at least 10. Received: {args.max_images}")
    audit(args.run, args.data, out=args.out, max_images=args.max_images, seed=args.seed)
    return 0
