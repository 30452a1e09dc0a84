"""The action registry: each action declared once, used to render prompts and validate input.

Names, argument keys and usage text follow MLAgentBench / MLR-Copilot, so prompts and logs
stay compatible with theirs. The functions behind the actions live in the modules named by
``ACTION_MODULES``; each is declared there with ``@action``, which only marks it. The
registry collects the marked functions of those modules, in that order, when it is first
used: nothing is registered as a side effect of importing a module, and the order of the
prompt's tool list never depends on which module was imported first.
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ..errors import ActionInputError, ConfigError


@dataclass(frozen=True)
class Arg:
    """One argument of an action. ``usage`` is the placeholder shown in the prompt."""

    name: str
    usage: str
    type: type = str
    required: bool = True


@dataclass(frozen=True)
class ActionResult:
    """What an action returns when its observation is not the whole story (Execute Script:
    the exit code and the file holding the full output). An action may return a plain
    ``str``: the observation alone. Typed, so nothing travels beside it on the context."""

    observation: str
    exit_code: int | None = None
    output_path: str | None = None
    timed_out: bool = False  # Execute Script: the script was stopped at its time limit

    @classmethod
    def of(cls, value: "str | ActionResult", action: str) -> "ActionResult":
        """An action function's return value as an ActionResult (TypeError for anything else)."""
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, ActionResult) and isinstance(value.observation, str):
            return value
        raise TypeError(f"action {action!r} returned {type(value).__name__}, not str or ActionResult")


@dataclass(frozen=True)
class ActionInfo:
    name: str
    description: str
    args: tuple[Arg, ...]
    return_value: str
    function: Callable[..., "str | ActionResult"] = field(compare=False, repr=False)
    uses_llm: bool = False
    bookkeeping: bool = False  # engine-internal (research log): consumes no step

    @property
    def arg_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.args)

    @property
    def required_arg_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.args if a.required)

    def usage_block(self) -> str:
        """The ```Action / Action Input``` usage block, as MLAgentBench renders it."""
        lines = [f'    "{a.name}": [{a.usage}]' for a in self.args]
        body = "{\n" + ",\n".join(lines) + "\n}" if lines else "{}"
        return (f"Action: {self.name}\nAction Input: {body}\n"
                f"Observation: [{self.return_value}]")

    def render(self) -> str:
        """The tool description as it appears in the agent prompt."""
        return (f"- {self.name}:\n        {self.description}\n        Usage:\n        ```\n"
                + "\n".join("        " + line for line in self.usage_block().splitlines())
                + "\n        ```\n")

    def render_brief(self) -> str:
        """One line for the agent prompt: name, typed Action Input, description. Small models
        follow this better than the usage blocks; the full usage appears in corrective
        messages when a model gets an action wrong."""
        fields = ", ".join(f'"{a.name}"{"" if a.required else "?"}: {"integer" if a.type is int else "string"}'
                           for a in self.args)
        return f"- {self.name} {{{fields}}}: {self.description}"

    def validate(self, raw: Mapping[str, Any] | None, *,
                 normalised: list[str] | None = None) -> dict[str, Any]:
        """Check an Action Input against the declared argument types; raise ActionInputError
        naming the argument and the form expected. The only repairs are unambiguous ones
        (a one-element list holding a string, a whole number written as text or as 2.0);
        each is described in ``normalised`` when a list is given."""
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ActionInputError(self._input_error(f"Action Input must be a JSON object, got {type(raw).__name__}"))
        known = set(self.arg_names)
        unknown = [k for k in raw if k not in known]
        missing = [a.name for a in self.args if a.required and a.name not in raw]
        if missing:
            extra = f" (unknown keys given: {', '.join(map(repr, unknown))})" if unknown else ""
            raise ActionInputError(self._input_error(
                f"missing required argument(s) {', '.join(map(repr, missing))}{extra}"))
        out: dict[str, Any] = {}
        for arg in self.args:
            if arg.name not in raw:
                continue
            value = _coerce(arg, raw[arg.name], self)
            if normalised is not None and value != raw[arg.name]:
                normalised.append(f"{arg.name}: {json.dumps(raw[arg.name], ensure_ascii=False)[:80]} "
                                  f"read as {json.dumps(value, ensure_ascii=False)[:80]}")
            out[arg.name] = value
        return out

    def _input_error(self, problem: str) -> str:
        return (f"The Action Input for {self.name} is not valid: {problem}. "
                f"It must be a valid JSON object with these keys:\n{self.usage_block()}")


def _type_error(arg: Arg, value: Any, info: ActionInfo, expected: str) -> ActionInputError:
    shown = json.dumps(value, ensure_ascii=False, default=str)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return ActionInputError(info._input_error(
        f"'{arg.name}' must be {expected}, got {_json_kind(value)} {shown}"))


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else type(value).__name__


def _coerce(arg: Arg, value: Any, info: ActionInfo) -> Any:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], (str, int)) \
            and not isinstance(value[0], bool):
        value = value[0]  # ["train.py"] for "train.py": unambiguous, recorded by the caller
    if arg.type is int:
        if isinstance(value, bool):
            raise _type_error(arg, value, info, 'an integer (a whole number, e.g. 10)')
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value.strip())
        raise _type_error(arg, value, info, 'an integer (a whole number, e.g. 10)')
    if arg.type is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise _type_error(arg, value, info, f'a JSON string, e.g. "{arg.name}": "..."')
    return value


class ActionRegistry:
    """Every known action: those declared in ``modules`` (collected on first use, in module
    order, then as declared), then any registered explicitly (tests, extensions)."""

    def __init__(self, modules: Sequence[str] = ()) -> None:
        self._modules = tuple(modules)
        self._loaded = not self._modules
        self._actions: dict[str, ActionInfo] = {}

    def load(self) -> "ActionRegistry":
        """Import the action modules and collect the actions they declare (once)."""
        if not self._loaded:
            self._loaded = True
            for name in self._modules:
                module = importlib.import_module(f"{__package__}.{name}")
                for value in list(vars(module).values()):
                    info = getattr(value, ACTION_ATTR, None)
                    if isinstance(info, ActionInfo) and getattr(value, "__module__", None) == module.__name__:
                        self._add(info)
        return self

    def register(self, info: ActionInfo) -> ActionInfo:
        """Add an action declared elsewhere; it comes after the declared ones."""
        self.load()
        return self._add(info)

    def _add(self, info: ActionInfo) -> ActionInfo:
        if info.name in self._actions:
            raise ValueError(f"action {info.name!r} registered twice")
        self._actions[info.name] = info
        return info

    def __getitem__(self, name: str) -> ActionInfo:
        return self.load()._actions[name]

    def __contains__(self, name: object) -> bool:
        return name in self.load()._actions

    def names(self) -> list[str]:
        return [info.name for info in self.all()]

    def all(self) -> list[ActionInfo]:
        """Every action in its fixed order (the order the prompt lists them)."""
        return list(self.load()._actions.values())

    def lookup(self, name: str) -> ActionInfo | None:
        """Find an action by name, forgiving case and surrounding spaces/punctuation."""
        actions = self.load()._actions
        if name in actions:
            return actions[name]
        key = normalise_action_name(name)
        for info in actions.values():
            if normalise_action_name(info.name) == key:
                return info
        return None


def normalise_action_name(name: str) -> str:
    """The form in which two action names are compared (lower-case letters and digits only),
    so "execute_script" and "Execute Script" name one action. The registry and the response
    parser both use it, so a name one accepts the other finds."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


ACTION_MODULES = ("execute", "files", "llm_actions", "research_log", "hub_prototype")
"""The modules of this package that declare actions, in the order the prompt lists their
actions. The list is explicit so that the order (and so the prompt, which replays and
caches compare byte for byte) never depends on import order."""

ACTION_ATTR = "action_info"  # where @action puts the declaration on the function

REGISTRY = ActionRegistry(ACTION_MODULES)


def load_actions() -> ActionRegistry:
    """The registry with every action of ``ACTION_MODULES`` collected."""
    return REGISTRY.load()


def action(name: str, description: str, args: list[Arg], return_value: str, *,
           uses_llm: bool = False, bookkeeping: bool = False,
           registry: ActionRegistry | None = None) -> Callable[[Callable], Callable]:
    """Decorator: declare an action once, on its function (``fn.action_info``); the function
    is called as ``fn(ctx, **args)`` and returns the observation (``str``) or an
    :class:`ActionResult`. The registry collects it from its module (``ACTION_MODULES``);
    a ``registry`` given here registers it at once (an action declared outside them)."""

    def wrap(fn: Callable) -> Callable:
        info = ActionInfo(name=name, description=description, args=tuple(args),
                          return_value=return_value, function=fn, uses_llm=uses_llm, bookkeeping=bookkeeping)
        setattr(fn, ACTION_ATTR, info)
        if registry is not None:
            registry.register(info)
        return fn

    return wrap


DEFAULT_OFFERED = (
    "List Files", "Copy File", "Undo Edit Script", "Execute Script", "Final Answer",
    "Understand File", "Inspect Script Lines", "Edit Script (AI)", "Edit Script Segment (AI)",
    "Reflection", "Retrieve Model", "Retrieve Dataset",
)
"""Actions offered to the agent by default, as in MLR-Copilot. Request Help is added
when a person is there to answer; Read/Write/Append File are registered, not offered."""


def choose_offered(chosen: Sequence[str] | None = None, *, add: Sequence[str] = (),
                   remove: Sequence[str] = (), human: bool = False, has_models: bool = True) -> list[str]:
    """The names of the actions offered to the agent: the one place the offer is decided.

    ``chosen`` None: the defaults (``DEFAULT_OFFERED``, Request Help when a person answers,
    none that needs a model when there is none); otherwise ``chosen``, each name checked.
    Then ``add`` (``--actions-add``) and ``remove`` (``--actions-remove``) are applied.
    Names are forgiven as :meth:`ActionRegistry.lookup` forgives them; ConfigError says
    what is wrong."""
    registry = load_actions()
    if chosen is None:
        names = [n for n in DEFAULT_OFFERED if n in registry and (has_models or not registry[n].uses_llm)]
        if human and "Request Help" in registry:
            names.append("Request Help")
    else:
        names = []
        for raw in chosen:
            info = registry.lookup(raw)
            if info is None:
                raise ConfigError(f"Unknown action {raw!r}; known actions: {', '.join(registry.names())}")
            if info.uses_llm and not has_models:
                raise ConfigError(f"The action {info.name!r} needs a model, but none was given")
            names.append(info.name)
    for raw in add:
        info = registry.lookup(raw)
        if info is None or info.bookkeeping:
            public = [a.name for a in registry.all() if not a.bookkeeping]
            raise ConfigError(f"--actions-add: unknown action {raw!r}. Known actions: {', '.join(public)}")
        if info.name not in names:
            names.append(info.name)
    for raw in remove:
        info = registry.lookup(raw)
        if info is None or info.name not in names:
            raise ConfigError(f"--actions-remove: {raw!r} is not offered. Offered: {', '.join(names)}")
        if info.name == "Final Answer":
            raise ConfigError("--actions-remove: Final Answer cannot be removed: the agent needs a way to finish.")
        names.remove(info.name)
    return names
