"""The worked example in the action loop's system prompt, fitted to the kind of data.

Small models copy the example's edit instruction nearly word for word. The tabular example
asks for "a stronger model of the same kind from sklearn.ensemble, with 300 trees"; on review
texts (a probe task, 2026-12-03) the embedded model copied it, the edit model fitted a
RandomForestRegressor to the rating names and the run never measured a change. When the
workspace's data has a free-text column (``tree_preview.text_column``), the example is a text
task instead: TF-IDF features of words and word pairs with a linear model of the kind the
target needs, as the tree strategy's text drafts ask (``tree_models``). When the tables hold
input columns of text categories (``tree_preview.mixed_columns``: a churn probe's plan, region
and payment names, which the starter left out and no loop step ever used), the example encodes
them in a ColumnTransformer that names this task's columns, as the tree's note does. Other
tabular data keeps the example word for word.
"""
from __future__ import annotations

import ast
import re

from ..env.tables import PANDAS_READERS
from ..llm.grammar import MIN_STRING_CHARS
from ..templates import render
from .starter_functions import model_maker, text_code, text_code_instruction
from .tree_models import MAX_LISTED_COLUMNS, column_transformer, picked_columns, top_assignments
from .tree_preview import InputColumns

MAX_INSTRUCTION_CHARS = MIN_STRING_CHARS - 20  # what the agent's grammar lets it copy, with room to spare
TABULAR_CHANGE_IDEAS = "a stronger model, feature scaling, or better settings"
TEXT_CHANGE_IDEAS = "TF-IDF features of words and word pairs with a linear model, or better settings"
COLUMNS_CHANGE_IDEAS = ("every input column (text categories one-hot encoded, missing values filled), a stronger "
                        "model, or better settings")
_CLASSES = {"task": "it sorts support tickets into topics by their text, measured by validation accuracy, "
                    "higher is better",
            "metric": "accuracy", "baseline": "0.712", "new": "0.861", "moved": "rose",
            "model": "LogisticRegression(C=10, max_iter=1000)"}
TEXT_EXAMPLES = {
    "classes": _CLASSES,
    "numeric": {"task": "it predicts the grade of essays from their text, measured by validation MAE, lower is better",
                "metric": "MAE", "baseline": "0.642", "new": "0.517", "moved": "fell", "model": "Ridge(alpha=1.0)"},
    None: {**_CLASSES, "model": "a linear model of the kind the target needs (LogisticRegression(C=10, "
                                "max_iter=1000) for classes, Ridge(alpha=1.0) for numbers)"},
}


def worked_example(script: str, text_column: str | None = None, target_kind: str | None = None,
                   columns: InputColumns = InputColumns(), script_code: str | None = None) -> str:
    """The example run, naming the task's main script; a text task's when ``text_column`` is set
    (``target_kind``: "classes", "numeric" or None, as ``tree_models.target_kind`` reads the metric),
    else one that encodes the input columns of text categories (``columns``) when there are any.
    Its edit names the starter's (``script_code``) own functions where it has them: on a tickets
    probe the agent copied the example's edit, not the next move's, before running the baseline.
    All three read the script, then run it, in the same words."""
    opening = render("agents.prompts", "experiment_example_read_and_run", script=script).rstrip("\n")
    if text_column is not None:
        example = TEXT_EXAMPLES.get(target_kind, TEXT_EXAMPLES[None])
        return render("agents.prompts", "experiment_example_text", script=script, **example, read_and_run=opening,
                      instruction=text_first_instruction(text_column, target_kind, script_code)).strip()
    if columns.categories:
        gaps = (f" and missing values ({', '.join(columns.gaps)})" if columns.gaps else "")
        why = (f"the tables hold text categories ({', '.join(columns.categories)}){gaps}; "
               f"{'encoded and filled' if gaps else 'encoded'}, every input column can be used, not only some.")
        return render("agents.prompts", "experiment_example_columns", script=script, why=why, read_and_run=opening,
                      instruction=columns_instruction(columns, target_kind, script_code),
                      like="whose tables hold text categories", change="pipeline",
                      done=f"Made {script} use every input column, with the text categories one-hot encoded and "
                           f"the missing values filled.").strip()
    unused = unused_columns_change(columns, script_code)
    if unused is not None:
        instruction, what = unused
        return render("agents.prompts", "experiment_example_columns", script=script, read_and_run=opening,
                      instruction=instruction, like=f"whose script {what}", change="change",
                      why=f"the script {what}; with every input column and a stronger model it should do better.",
                      done=f"Made {script} use every input column, with a stronger ensemble model.").strip()
    return render("agents.prompts", "experiment_example", script=script, instruction=TABULAR_INSTRUCTION,
                  read_and_run=opening).strip()


def columns_instruction(columns: InputColumns, target_kind: str | None, script_code: str | None = None) -> str:
    """The edit instruction that uses every input column: a ColumnTransformer naming this task's
    columns, then a linear model of the target's kind (a model left as it was, a depth-1 tree in
    a churn run, measured the same on every column), put where the script makes its model and
    nothing else changed: asked to "fit and predict it on those columns", the edit model on a
    rentals probe rewrote the script and scored the new model on the test table, which has no
    target. A starter that keeps some columns in a list (``picked_columns``) gets two numbered
    steps naming its lines (``named_columns_instruction``). Past ``MAX_INSTRUCTION_CHARS`` the
    transformer selects the columns by type: the agent's copy of a 700-character instruction
    was cut at 640 by its grammar. Single quotes: it sits in a JSON string."""
    picked = picked_columns(script_code, columns)
    for by_type in (False, True):
        transformer = column_transformer(columns, by_type)
        if picked is not None:
            text = named_columns_instruction(columns, target_kind, transformer, picked, script_code)
        else:
            few = len(columns.inputs) <= MAX_LISTED_COLUMNS and not by_type
            listed = ", ".join(columns.inputs) if few else "all of them"
            text = (f"Use every input column, {listed}: where the script makes its model, make it "
                    f"make_pipeline({transformer}, {_columns_model(target_kind)}), and where it picks its input "
                    "columns, pick those, with no .fillna. Change nothing else: the validation split, the printed "
                    "validation metric and the output file stay as they are.")
        if len(text) <= MAX_INSTRUCTION_CHARS:
            break
    return text.replace('"', "'")


def named_columns_instruction(columns: InputColumns, target_kind: str | None, transformer: str,
                              picked: tuple[str, str, list[str]], script_code: str | None) -> str:
    """Every input column in two numbered steps that name the starter's function making the
    model (``starter_functions.model_maker``) and its list of columns: told "where it picks its
    input columns, pick those", the edit model on a churn probe left the list of 3 of 12 columns
    as it was ("Some column names are not columns of the dataframe: {'plan', ...}"); named, it
    changed both and validation accuracy went from 0.603 to 0.784."""
    name, _, kept = picked
    maker = model_maker(script_code)
    pipeline = f"make_pipeline({transformer}, {_columns_model(target_kind)})"
    first = f"Make {maker}() return {pipeline}." if maker else f"Where the script makes its model, make it {pipeline}."
    others = [c for c in columns.names if c not in set(columns.inputs)]
    table = first_table(script_code)
    line = (f"{name} = [c for c in {table}.columns if c not in {tuple(others)!r}]" if table and others
            else f"{name} = {list(columns.inputs)!r}")
    return (f"Use every input column: 1. {first} 2. Make it `{line}` (it keeps {len(kept)} of the "
            f"{len(columns.inputs)} input columns now), with no .fillna. Change nothing else: the validation split, "
            "the printed validation metric and the output file stay as they are.")


def _columns_model(target_kind: str | None) -> str:
    return COLUMNS_MODELS.get(target_kind, COLUMNS_MODELS[None])


def text_instruction(target_kind: str | None) -> str:
    """The text example's edit instruction: TF-IDF features of words and word pairs and a linear
    model of the target's kind."""
    model = TEXT_EXAMPLES.get(target_kind, TEXT_EXAMPLES[None])["model"]
    return ("Replace the text features by TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2), fitted "
            f"on the training texts only, and the model by {model}. Keep the data loading, the validation split, "
            "the printed validation metric and the output file exactly as they are.")


def text_first_instruction(text_column: str, target_kind: str | None, script_code: str | None) -> str:
    """The text example's instruction, or, for a starter with its own feature function, the one
    that names it (``starter_functions``)."""
    found = text_code(script_code, text_column) if target_kind and target_kind in TEXT_EXAMPLES else None
    return text_code_instruction(found, TEXT_EXAMPLES[target_kind]["model"]) if found else text_instruction(target_kind)


COLUMNS_MODELS = {"classes": "LogisticRegression(max_iter=1000)", "numeric": "Ridge()",
                  None: "LogisticRegression(max_iter=1000) for classes or Ridge() for numbers"}


def first_change(text_column: str | None = None, columns: InputColumns = InputColumns(),
                 target_kind: str | None = None, script_code: str | None = None) -> str | None:
    """The examples of a first change in the compact prompt's usual next move, when the data
    or the starter script (``script_code``) call for others than tabular data's: on the churn
    probe the agent copied that line's "a stronger model, feature scaling" and never the
    columns example; on a review probe in JSON lines it asked, after that line, to "add more
    features to the TF-IDF vectorizer" the script did not have, and the edit model wrote a
    featurizer of 60 lines that never closed its brackets. A text starter with its own feature
    function gets the instruction that names it (``starter_functions``)."""
    if text_column is not None:
        return f'the edit instruction "{text_first_instruction(text_column, target_kind, script_code)}"'
    if columns.inputs and TORCH_IMPORT.search(script_code or ""):
        return f'the edit instruction "{TORCH_TABULAR_INSTRUCTION}"'
    if columns.categories:  # the whole instruction: "as in the example" was copied as is
        return f'the edit instruction "{columns_instruction(columns, target_kind, script_code)}"'
    unused = unused_columns_change(columns, script_code)
    return f'the edit instruction "{unused[0]}"' if unused is not None else None


def unused_columns_change(columns: InputColumns, script_code: str | None) -> tuple[str, str] | None:
    """(the instruction that makes the starter use the input columns it leaves out, what the
    starter does: "keeps only some of its input columns"), or None when it uses them all. The
    worked example shows the same instruction as the usual next move: on an office-energy probe
    the agent copied the example's model change first (RMSE 15.45 to 17.71) and the columns
    only two steps later."""
    picked = picked_columns(script_code, columns)
    if picked is not None:
        return wider_instruction(picked, columns, script_code), "keeps only some of its input columns"
    named = named_columns(script_code, columns)
    if named is not None:
        return named_instruction(named, columns), "names only some of its input columns"
    if columns.dates and not all(c in (script_code or "") for c in date_columns(columns)):
        return (f"Use the dates{date_features(columns)}, instead of '{columns.dates[0]}' itself. "
                f"{TABULAR_INSTRUCTION}", "leaves its dates unused")
    return None


def named_columns(code: str | None, columns: InputColumns) -> list[str] | None:
    """The input columns a starter names anywhere in its code (``frame[["temp_c"]]`` inside a
    function) when it names some but not all, and never takes a table's ``.columns``, ``drop``
    or ``select_dtypes`` (which may keep them all): a bike-hire probe's starter named only the
    temperature, three times, inside functions, and its loop run fitted forests on it alone."""
    try:
        tree = ast.parse(code or "")
    except (SyntaxError, ValueError):
        return None
    said = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("columns", "drop", "select_dtypes"):
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            said.add(node.value)
    kept = [c for c in columns.inputs if c in said]
    return kept if 0 < len(kept) < len(columns.inputs) <= MAX_LISTED_COLUMNS else None


def named_instruction(kept: list[str], columns: InputColumns) -> str:
    """The tabular example's instruction after the words that select every input column where a
    starter names only some (``named_columns``), dates turned into numbers too."""
    every = [*columns.inputs, *date_columns(columns)]
    return (f"Use every input column: where the script selects {', '.join(map(repr, kept))} as its input columns, "
            f"select {every!r} instead{date_features(columns)}. {TABULAR_INSTRUCTION}").replace('"', "'")


def date_columns(columns: InputColumns) -> list[str]:
    """The number columns made of the first date column (``InputColumns.date_parts``)."""
    return [f"{columns.dates[0]}_{part}" for part in columns.date_parts]


def date_features(columns: InputColumns) -> str:
    """The words that add those columns to each table (``date_columns``); "" without dates. On the
    bike-hire probe the weekday alone took a forest's validation RMSE from 1,427 to 267; on an
    office-energy probe of hourly readings, the hour took it from 11.3 to 2.7."""
    if not columns.dates:
        return ""
    return (f", and add to each table it reads the columns {_and(date_columns(columns))} "
            f"(pd.to_datetime(table['{columns.dates[0]}']){_and(columns.date_attributes)}) as inputs")


def _and(items: list[str]) -> str:
    return f"{', '.join(items[:-1])} and {items[-1]}" if len(items) > 1 else "".join(items)


def wider_instruction(picked: tuple[str, str, list[str]], columns: InputColumns,
                      script_code: str | None = None) -> str:
    """The tabular example's instruction, after the line that makes a starter's column list
    (``tree_models.picked_columns``) every input column: on a tumour probe the starter kept 2 of
    30 measurements, the example's edit kept the list, and a forest on those 2 gained 4%. Past
    ``MAX_LISTED_COLUMNS`` the line leaves out the other columns of the first table the script
    reads instead of listing the inputs: the agent copied a list of 30 as 20, two of them misspelt."""
    name, _, kept = picked
    others = [c for c in columns.names if c not in set(columns.inputs)]
    table = first_table(script_code)
    if len(columns.inputs) > MAX_LISTED_COLUMNS and table and others:
        line = f"{name} = [c for c in {table}.columns if c not in {tuple(others)!r}]"
    else:
        line = f"{name} = {[*columns.inputs, *date_columns(columns)]!r}"
    return (f"Use every input column: make it `{line}` (it keeps {len(kept)} of the {len(columns.inputs)} now)"
            f"{date_features(columns)}. {TABULAR_INSTRUCTION}").replace('"', "'")


def first_table(code: str | None) -> str | None:
    """The name the script gives the first table it reads (``train = pd.read_csv(...)``, or
    ``read_json``, ``read_parquet``, ``read_table``)."""
    for name, value, _ in top_assignments(code):
        if isinstance(value, ast.Call) and getattr(value.func, "attr", getattr(value.func, "id", "")) in PANDAS_READERS:
            return name
    return None


TORCH_IMPORT = re.compile(r"^\s*(import|from)\s+torch\b", re.MULTILINE)
TORCH_TABULAR_INSTRUCTION = (
    "Keep PyTorch. Standardize the input columns with the mean and standard deviation of the training rows (the "
    "same numbers for the validation and test rows), make the model a small MLP (nn.Sequential: Linear to 128, "
    "ReLU, Linear to 128, ReLU, Linear to the outputs) and train it with torch.optim.Adam(lr=1e-3) for 30 epochs. "
    "Keep the data loading, the validation split, the printed validation metric and the output file exactly as "
    "they are.")
"""A starter that trains a PyTorch model on a table: with the tabular instruction a sensor probe's
edit put a RandomForestClassifier into the torch training loop (``'RandomForestClassifier' object
has no attribute 'parameters'``), twice."""

TABULAR_INSTRUCTION = ("Replace the model by a stronger model of the same kind (regressor or classifier) from "
                       "sklearn.ensemble, with 300 trees and random_state=0. Keep the data loading, the printed "
                       "validation metric and the output file exactly as they are.")


def change_ideas(text_column: str | None = None, columns: InputColumns = InputColumns()) -> str:
    """The system prompt's examples of one clear change."""
    if text_column is not None:
        return TEXT_CHANGE_IDEAS
    return COLUMNS_CHANGE_IDEAS if columns.categories else TABULAR_CHANGE_IDEAS
