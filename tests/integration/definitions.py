"""Tencent's own machine-readable API definitions, as the pinned `tccli` package ships them
(`tccli/services/<service>/<version>/api.json` and `examples.json`): the reference the
conformance tests are generated from."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import tccli

import support

SERVICES_DIR = Path(tccli.__file__).parent / "services"
PACKAGE_VERSION = {"tiw": "v20190919", "tcss": "v20201101", "ecm": "v20190719"}


@cache
def api(service: str) -> dict:
    return json.loads((SERVICES_DIR / service / PACKAGE_VERSION[service] / "api.json").read_text(encoding="utf-8"))


def served() -> list[tuple[str, str]]:
    """(service, action) of every action taskgate serves, from its action tables."""
    return sorted((service, action) for action, (service, _) in support.ACTIONS.items())


def input_members(service: str, action: str) -> list[dict]:
    definitions = api(service)
    return definitions["objects"][definitions["actions"][action]["input"]]["members"]


def sample(service: str, member: dict, depth: int = 0):
    """A value of the member's declared type: the smallest a real client could send."""
    kind = member["type"]
    if kind == "list":
        inner = dict(member, type=_scalar_or_object(member["member"]))
        return [sample(service, inner, depth)]
    if kind == "object" or kind not in _SCALARS:
        return required_params(service, api(service)["objects"][member["member"]]["members"], depth + 1)
    name = member["name"]
    if name == "SdkAppId":
        return support.MAIN_SDK_APP
    return _SCALARS[kind](member)


def required_params(service: str, members: list[dict], depth: int = 0) -> dict:
    """The required members of a structure, each with a sample value."""
    if depth > 4:
        return {}
    return {m["name"]: sample(service, m, depth) for m in members if m["required"]}


def _scalar_or_object(member: str) -> str:
    return {"int64": "int", "uint64": "int", "int": "int", "string": "string", "bool": "bool",
            "float": "float", "double": "float"}.get(member, "object")


_SCALARS = {
    "int": lambda m: 1,
    "string": lambda m: "x",
    "bool": lambda m: False,
    "float": lambda m: 1.0,
}


def tccli_version() -> str:
    from importlib.metadata import version

    return version("tccli")


_TYPES = {"string": str, "int": int, "bool": bool, "float": (int, float), "double": (int, float)}


def shape_errors(service: str, action: str, answer: dict) -> list[str]:
    """How `answer` (a successful `Response` object) differs from the action's declared output:
    a member declared non-nullable that is missing, null or of another type, or a member the
    definition does not declare (`RequestId` aside)."""
    definitions = api(service)
    output = definitions["actions"][action]["output"]
    members = [m for m in definitions["objects"][output]["members"] if m["name"] != "RequestId"]
    return _object_errors(service, members, {k: v for k, v in answer.items() if k != "RequestId"}, action)


def _object_errors(service: str, members: list[dict], value: dict, path: str) -> list[str]:
    errors = []
    declared = {m["name"] for m in members}
    errors += [f"{path}.{name}: not declared" for name in value if name not in declared]
    for member in members:
        name, where = member["name"], f"{path}.{member['name']}"
        present = value.get(name)
        if present is None:
            if not member.get("value_allowed_null", True):
                errors.append(f"{where}: missing, declared non-nullable {member['type']}")
            continue
        errors += _value_errors(service, member, present, where)
    return errors


def _value_errors(service: str, member: dict, value, where: str) -> list[str]:
    kind = member["type"]
    if kind == "list":
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, declared a list"]
        inner = dict(member, type=_scalar_or_object(member["member"]), value_allowed_null=False)
        return [e for i, item in enumerate(value) for e in _value_errors(service, inner, item, f"{where}.{i}")]
    if kind in _TYPES:
        expected = _TYPES[kind]
        if isinstance(value, bool) and kind != "bool" or not isinstance(value, expected):
            return [f"{where}: {value!r} is not {kind}"]
        return []
    if not isinstance(value, dict):
        return [f"{where}: {type(value).__name__}, declared an object"]
    return _object_errors(service, api(service)["objects"][member["member"]]["members"], value, where)


# ---- examples.json ------------------------------------------------------------------------------


@cache
def _examples(service: str) -> dict:
    path = SERVICES_DIR / service / PACKAGE_VERSION[service] / "examples.json"
    return json.loads(path.read_text(encoding="utf-8"))["actions"]


def examples(service: str, action: str) -> list[dict]:
    """The action's examples as tccli ships them: `title`, `input` (an HTTP request text) and
    `output` (the answer's JSON text)."""
    return _examples(service).get(action, [])


def example_request(example: dict) -> tuple[str, dict]:
    """(method, parameters) of an example's `input`. tccli writes two layouts: a POST request
    text whose body, after the blank line, is the JSON of the parameters; or a GET URL followed
    by one `&Name=Value` line per flattened parameter (`Filters.0.Values.0`), values as text.
    `<公共请求参数>` stands for the common parameters (Action, Timestamp…) and is left out."""
    text = example["input"]
    if text.startswith("POST "):
        body = text.split("\n\n", 1)[1]
        return "POST", json.loads(body)
    pairs = {}
    for line in text.splitlines()[1:]:
        name, _, value = line.lstrip("&").partition("=")
        if line.startswith("&") and name != "<公共请求参数>":
            pairs[name] = value
    return "GET", pairs


def example_response(example: dict) -> dict:
    """The `Response` object of an example's `output`."""
    return json.loads(example["output"])["Response"]


def example_shape_errors(service: str, action: str, example: dict, answer: dict) -> list[str]:
    """Where `answer` lacks the shape of the example's answer: a member the example shows (and
    the definition declares) missing or of another JSON type, recursively; list items are
    compared with the example's first item. Values themselves differ by nature (ids, times)."""
    definitions = api(service)
    members = definitions["objects"][definitions["actions"][action]["output"]]["members"]
    return _example_errors(service, members, example, answer, action)


def _json_kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _example_errors(service: str, members: list[dict], example: dict, answer: dict, path: str) -> list[str]:
    errors = []
    by_name = {m["name"]: m for m in members}
    for name, shown in example.items():
        member = by_name.get(name)
        if name == "RequestId" or member is None or shown is None:
            continue
        where = f"{path}.{name}"
        if name not in answer or answer[name] is None:
            if not member.get("value_allowed_null", True):
                errors.append(f"{where}: missing, the example shows {shown!r}")
            continue
        errors += _example_value_errors(service, member, shown, answer[name], where)
    return errors


def _example_value_errors(service: str, member: dict, shown, value, where: str) -> list[str]:
    if _json_kind(shown) != _json_kind(value):
        return [f"{where}: {_json_kind(value)}, the example shows a {_json_kind(shown)}"]
    if isinstance(shown, list):
        if not shown or member["type"] != "list" or _scalar_or_object(member["member"]) != "object":
            return []
        inner = api(service)["objects"][member["member"]]["members"]
        return [e for i, item in enumerate(value) for e in _example_errors(service, inner, shown[0], item, f"{where}.{i}")]
    if isinstance(shown, dict) and member["type"] == "object":
        return _example_errors(service, api(service)["objects"][member["member"]]["members"], shown, value, where)
    return []
