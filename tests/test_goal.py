"""The improvement a task asks for, read from its problem, and the loop's comparison with it."""
from pathlib import Path

from mlr_copilot.agents.goal import goal_from_problem, progress
from mlr_copilot.agents.metric import MetricSpec
from mlr_copilot.agents.next_move import unfinished_work, where_we_are
from test_next_move import EDITED, mem

ACCURACY = MetricSpec("accuracy", "higher")
RMSE = MetricSpec("rmse", "lower")
REPO = Path(__file__).resolve().parents[1]


def run(step, line):
    return mem(step, "Execute Script", f"The script has been executed. Here is the output:\n{line}\n\nExit code: 0",
               script_name="train.py")


def test_the_goal_is_read_from_the_problem_text():
    for task in ("digits", "wine", "diabetes"):  # "improve upon the current model's accuracy ... by at least 10%"
        assert goal_from_problem((REPO / "problems" / task).read_text(), ACCURACY).percent == 10
    assert goal_from_problem("Lower the error by 5 percent.", RMSE).percent == 5
    assert goal_from_problem("Raise it by more than 2.5% on the test set.", ACCURACY).percent == 2.5
    assert goal_from_problem("Improve the model as much as you can.", ACCURACY) is None
    assert goal_from_problem("Train for 10 epochs; 20% of rows are held out.", ACCURACY) is None


def test_progress_is_relative_to_the_baseline_in_the_metrics_direction():
    goal = goal_from_problem("by at least 10%", ACCURACY)
    made = progress(goal, run(2, "held-out accuracy: 0.7207"), run(4, "held-out accuracy: 0.7477"))
    assert round(made.gain, 1) == 3.7 and not made.reached
    rmse = goal_from_problem("by at least 10%", RMSE)
    made = progress(rmse, run(2, "Validation RMSE: 68.71"), run(4, "Validation RMSE: 61.12"))
    assert round(made.gain, 1) == 11.0 and made.reached
    assert progress(rmse, run(2, "Validation RMSE: 68.71"), run(4, "done")) is None  # nothing read: no claim
    assert progress(None, run(2, "Validation RMSE: 68.71"), run(4, "Validation RMSE: 61.12")) is None


def test_a_small_gain_is_not_taken_for_the_goal_and_a_large_one_is():
    goal = goal_from_problem("by at least 10%", ACCURACY)
    h = [run(2, "held-out accuracy: 0.7207"), mem(3, "Edit Script (AI)", EDITED, script_name="train.py"),
         run(4, "held-out accuracy: 0.7477")]
    short = ("the validation accuracy went from 0.7207 (step 2) to 0.7477 (step 4), +3.7%, and the task asks for "
             "an improvement of at least 10%")
    assert f"Usual next move: {short}: it is not reached yet. Try a further change" in where_we_are(h, goal=goal)
    assert unfinished_work(h, goal).startswith(f"{short}, so the goal is not reached yet")
    assert unfinished_work(h) is None and "if it is clearly better" in where_we_are(h)  # no goal: as before
    h.append(mem(5, "Edit Script (AI)", EDITED, script_name="train.py"))
    h.append(run(6, "held-out accuracy: 0.9381"))
    assert "+30.2%, and the task asks for an improvement of at least 10%: it is reached. Give the Final Answer" \
        in where_we_are(h, goal=goal)
    assert unfinished_work(h, goal) is None
