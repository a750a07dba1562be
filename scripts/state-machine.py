"""Prints the scale-out state machine's definition from the CloudFormation
template as plain JSON, with the template's references substituted by
stand-ins of the right shape (an ARN, a number), for asl-validator.

    state-machine.py TEMPLATE [--break]

--break removes the Finish state, leaving a dangling "Next": the validator
must reject that (a check that cannot fail proves nothing).
"""

import json
import re
import sys

import yaml


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (!Sub, !Ref, ...) as plain values."""


def _any_tag(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


CfnLoader.add_multi_constructor("!", _any_tag)

STAND_INS = {
    "AWS::Partition": "aws",
    "AWS::Region": "ap-northeast-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "author-stats",
    "Function.Arn": "arn:aws:lambda:ap-northeast-1:123456789012:function:author-stats-author-stats",
    "ShardAuthors": "2000",
    "MapConcurrency": "40",
}


def main() -> int:
    path = sys.argv[1]
    with open(path, encoding="utf-8") as f:
        template = yaml.load(f, Loader=CfnLoader)
    text = template["Resources"]["ScaleOutStateMachine"]["Properties"]["DefinitionString"]

    def stand_in(match):
        name = match.group(1)
        if name not in STAND_INS:
            raise SystemExit(f"{path}: no stand-in for ${{{name}}}; add one to {sys.argv[0]}")
        return STAND_INS[name]

    definition = json.loads(re.sub(r"\$\{([^}!]+)\}", stand_in, text))
    if "--break" in sys.argv[2:]:
        del definition["States"]["Finish"]
    json.dump(definition, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
