"""Builds the essay-scoring task from the ELLIPSE corpus (Feedback Prize - English Language Learning).

The scored essays are the train.csv of the Kaggle competition
'feedback-prize-english-language-learning' (3,911 essays; columns text_id, full_text and
the six scores). Kaggle needs an account, so prepare looks for the file in the data cache
(``<cache>/feedback/train.csv``); online, with the package 'kaggle' installed and a Kaggle
token configured, it downloads it there itself. The essays are split 80/20 with a fixed
seed; the scores of the held-out fifth go to answers/.
"""
import zipfile

import pandas as pd
from sklearn.model_selection import train_test_split

COMPETITION = "feedback-prize-english-language-learning"
MEASURES = ["cohesion", "syntax", "vocabulary", "phraseology", "grammar", "conventions"]
SEED = 20240506


def _fetch_with_kaggle(folder):
    """Download train.csv with the Kaggle API; any failure is reported, not raised."""
    try:
        from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError:
        return "the package 'kaggle' is not installed (pip install kaggle)"
    try:
        api = KaggleApi()
        api.authenticate()
        api.competition_download_file(COMPETITION, "train.csv", path=str(folder), quiet=True)
    except Exception as exc:  # noqa: BLE001 - auth, rules not accepted, network: all explained to the user
        return f"the Kaggle download failed: {exc}"
    packed = folder / "train.csv.zip"
    if packed.exists():
        with zipfile.ZipFile(packed) as zf:
            zf.extract("train.csv", folder)
    return None


def write_task_files(ctx, essays):
    """Write the visible and hidden parts from the scored essays (also used by the tests)."""
    missing = [c for c in ["text_id", "full_text", *MEASURES] if c not in essays.columns]
    if missing:
        from mlr_copilot.tasks import DataUnavailable
        raise DataUnavailable(f"the ELLIPSE file lacks the columns {missing}; expected Kaggle's train.csv")
    train, test = train_test_split(essays, test_size=0.2, random_state=SEED)
    train[["text_id", "full_text", *MEASURES]].to_csv(ctx.data_dir / "train.csv", index=False)
    test[["text_id", "full_text"]].to_csv(ctx.data_dir / "test.csv", index=False)
    sample = pd.DataFrame({"text_id": test["text_id"], **{m: 3.0 for m in MEASURES}})
    sample.to_csv(ctx.data_dir / "sample_submission.csv", index=False)
    test[["text_id", *MEASURES]].to_csv(ctx.answers / "test_scores.csv", index=False)


def prepare(ctx):
    from mlr_copilot.tasks import DataUnavailable

    folder = ctx.cache / ctx.task_name
    source = folder / "train.csv"
    problem = None
    if not source.exists() and ctx.online:
        folder.mkdir(parents=True, exist_ok=True)
        problem = _fetch_with_kaggle(folder)
    if not source.exists():
        raise DataUnavailable(
            f"task 'feedback' needs the scored ELLIPSE essays: the train.csv of the Kaggle competition "
            f"'{COMPETITION}' (https://www.kaggle.com/competitions/{COMPETITION}/data). Download it "
            f"(kaggle competitions download -c {COMPETITION} -f train.csv) and put it at {source}, "
            f"then run `mlr-copilot prepare feedback` again."
            + (f" Automatic download: {problem}." if problem else ""))
    write_task_files(ctx, pd.read_csv(source))
