"""Which of a starter script's own functions make its model and its features.

Small edit models follow an instruction that names what to change. The text example's
instruction ("replace the text features by TfidfVectorizer ..., fitted on the training texts
only") left the 1.5B edit model to restructure the starter, and it never did: on a tickets probe
it imported the vectorizer and changed only the model; asked for "a make_pipeline of the
vectorizer and the model given the texts themselves", it kept the starter's ``featurize`` and
the pipeline's vectorizer got arrays of numbers (``'numpy.ndarray' object has no attribute
'lower'``); on a reviews probe it fitted the vectorizer inside ``featurize``, so the validation
rows got other columns. Named, the same change is two small edits it makes: the function that
makes the model returns the pipeline, and the function that makes the features returns the
texts (validation accuracy 0.514 to 0.914 on the tickets probe).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

MODEL_CALLS = frozenset({"fit", "predict", "predict_proba", "decision_function", "score", "fit_predict"})


@dataclass(frozen=True)
class TextCode:
    """The starter's feature function (its name and first parameter), what its new body
    returns, and the function that makes the model (None when the model is made inline)."""

    features: str
    parameter: str
    texts: str
    maker: str | None


def model_maker(code: str | None) -> str | None:
    """The starter's own function, without parameters, whose result is fitted
    (``make_model().fit(...)``, or ``model = make_model()`` then ``model.fit(...)``), or None."""
    found = _model_calls(code)
    return None if found is None else _maker(found[1], found[2])


def text_code(code: str | None, text_column: str) -> TextCode | None:
    """The starter's own function whose result a model is fitted on or predicts from
    (``model.fit(featurize(x_fit), y)``), or None: no such function, or code that does not parse."""
    found = _model_calls(code)
    if found is None:
        return None
    fed, made, functions = found
    feature = next((functions[name] for name in fed if name and functions[name].args.args), None)
    if feature is None:
        return None
    parameter = feature.args.args[0].arg
    texts = (f"{parameter}[{text_column!r}].astype(str).tolist()" if _subscripts(feature, parameter, text_column)
             else f"[str(t) for t in {parameter}]")
    return TextCode(feature.name, parameter, texts, _maker(made, functions))


def _maker(made: list, functions: dict[str, ast.FunctionDef]) -> str | None:
    """The first of the functions whose results are fitted that takes no parameters."""
    return next((name for name in made if name and not functions[name].args.args), None)


def _model_calls(code: str | None) -> tuple[list, list, dict[str, ast.FunctionDef]] | None:
    """(the module functions whose results are given to a model's fit or predict, those whose
    results are the model, every top-level function by name), or None when ``code`` does not parse."""
    try:
        tree = ast.parse(code or "")
    except (SyntaxError, ValueError):
        return None
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    made_by = {node.targets[0].id: _called(node.value, functions) for node in ast.walk(tree)
               if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)}
    fed, made = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MODEL_CALLS:
            fed += [_called(arg, functions) for arg in node.args[:1]]
            receiver = node.func.value  # make_model().fit(...), or model.fit(...) after model = make_model()
            made.append(made_by.get(receiver.id) if isinstance(receiver, ast.Name) else _called(receiver, functions))
    return fed, made, functions


def _called(node: ast.AST, functions: dict[str, ast.FunctionDef]) -> str | None:
    """The name of the module's function that ``node`` calls, if it calls one."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions:
        return node.func.id
    return None


def _subscripts(function: ast.FunctionDef, parameter: str, column: str) -> bool:
    """Whether ``function`` reads ``parameter[column]``: it is given a table, not the texts."""
    return any(isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == parameter
               and isinstance(node.slice, ast.Constant) and node.slice.value == column
               for node in ast.walk(function))


def text_code_instruction(found: TextCode, model: str) -> str:
    """The edit that gives a TF-IDF pipeline the texts themselves, in two numbered steps naming
    the starter's functions (single quotes: it sits in a JSON string)."""
    pipeline = f"make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2), {model})"
    first = (f"Make {found.maker}() return {pipeline}." if found.maker
             else f"Where the script makes its model, make it {pipeline}.")
    return (f"1. {first} 2. Replace the body of {found.features}({found.parameter}) by: return {found.texts}. "
            "Change nothing else: the validation split, the printed validation metric and the output file stay "
            "as they are.").replace('"', "'")
