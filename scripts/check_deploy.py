#!/usr/bin/env python3
"""Checks the deploy artifacts before they meet AWS.

    scripts/check_deploy.py [DEPLOY_DIR]     (default: deploy/ beside this script)

The shapes of deploy/cli's JSON inputs against botocore's models, then the rules
AWS applies that the models do not encode and those this service needs, on the
CLI inputs and on deploy/cloudformation.yaml evaluated for each way a stack can be
created (cfn-lint checks the rest of the template). The rules live in
scripts/deploycheck/, one module per part of the stack.

Prints one line per problem, "file: rule: what is wrong", and exits 1 if there
is any; exits 0 and prints "deploy artifacts: ok" otherwise.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from deploycheck import main  # noqa: E402
except ModuleNotFoundError as e:  # a fresh machine: say what is missing, not a traceback
    print(f"check_deploy: missing the Python module {e.name}: run `make deps`, or see "
          "scripts/deploy-env.sh", file=sys.stderr)
    sys.exit(2)

if __name__ == "__main__":
    sys.exit(main(sys.argv))
