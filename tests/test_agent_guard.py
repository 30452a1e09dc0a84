"""The agent's guards against the failures small models really show: repeating the same
action while nothing changed, and arguments of the wrong type. Both cost a retry of the
model (a parse attempt), never a step, and both are recorded."""
import json

import pytest

from mlr_copilot.agents.runner import run_experiment
from mlr_copilot.feedback import NoFeedback
from mlr_copilot.logs import read_jsonl

from test_agent_e2e import make_project, options, scripted_models, step


def _steps(run_dir):
    return [r for r in read_jsonl(run_dir / "agent_log" / "full_log.jsonl") if r["type"] == "step"]


def test_a_repeated_action_with_the_workspace_unchanged_is_asked_again_not_executed(tmp_path):
    root = make_project(tmp_path)
    list_files = step("look", "List Files", {"dir_path": "."})
    main = [list_files, list_files,  # the second is refused: same input, nothing changed
            step("run it", "Execute Script", {"script_name": "main.py"}),
            step("done", "Final Answer", {"final_answer": "It fails with a NameError."})]
    models = scripted_models(main)
    result = run_experiment(options(root), models=models, feedback=NoFeedback())

    assert result.status == "final_answer", result.message
    steps = _steps(result.run_dir)
    assert [s["action"] for s in steps] == ["List Files", "Execute Script", "Final Answer"]
    assert steps[1]["parse_attempts"] == 2
    assert "repeated action: List Files" in steps[1]["parse_errors"][0]
    calls = [c for c in models.main.calls if c["purpose"] == "agent_step"]
    retry = calls[2]  # step 2, second attempt
    assert "which you already did at step 1" in retry["messages"][-1]["content"]
    assert "List Files" not in retry["response_spec"].actions  # the grammar cannot repeat it
    assert retry["temperature"] > 0  # and the retry samples instead of repeating greedily
    assert calls[1]["temperature"] == 0


def test_the_same_action_is_allowed_again_once_the_workspace_changed(tmp_path):
    root = make_project(tmp_path)
    run = step("run it", "Execute Script", {"script_name": "main.py"})
    main = [run,
            step("fix", "Edit Script (AI)", {"script_name": "main.py", "edit_instruction": "fix valuez",
                                              "save_name": "main.py"}),
            run,  # the script changed since step 1: running it again is progress
            step("done", "Final Answer", {"final_answer": "mean 2.5"})]
    models = scripted_models(main, ["values = [1, 2, 3, 4]\nprint('mean', sum(values) / len(values))\n"])
    result = run_experiment(options(root), models=models, feedback=NoFeedback())

    steps = _steps(result.run_dir)
    assert [s["action"] for s in steps] == ["Execute Script", "Edit Script (AI)", "Execute Script", "Final Answer"]
    assert all(s["parse_attempts"] == 1 for s in steps)
    assert "mean 2.5" in steps[2]["full_observation"]


def test_a_list_where_a_string_belongs_is_read_unambiguously_and_recorded(tmp_path):
    root = make_project(tmp_path)
    main = [step("run it", "Execute Script", {"script_name": ["main.py"]}),
            step("done", "Final Answer", {"final_answer": "NameError"})]
    result = run_experiment(options(root), models=scripted_models(main), feedback=NoFeedback())

    first = _steps(result.run_dir)[0]
    assert first["parse_attempts"] == 1
    assert first["action_input"] == {"script_name": "main.py"}
    assert "NameError" in first["full_observation"]  # the script really ran
    assert first["normalised"] == ['script_name: ["main.py"] read as "main.py"']


def test_a_key_the_action_does_not_take_is_left_out_of_what_runs_and_is_recorded(tmp_path):
    root = make_project(tmp_path)
    main = [step("run it", "Execute Script", {"script_name": "main.py", "verbose": True}),
            step("done", "Final Answer", {"final_answer": "NameError"})]
    models = scripted_models(main)
    result = run_experiment(options(root), models=models, feedback=NoFeedback())

    first = _steps(result.run_dir)[0]
    assert first["parse_attempts"] == 1
    assert first["action_input"] == {"script_name": "main.py"}  # what ran, what the agent remembers
    assert first["normalised"] == ["verbose: not an argument of Execute Script, left out"]
    later = [c for c in models.main.calls if c["purpose"] == "agent_step"][1]["messages"][-1]["content"]
    assert 'Action Input: {"script_name": "main.py"}' in later


def test_a_wrongly_typed_argument_is_a_format_error_naming_it_and_costs_no_step(tmp_path):
    root = make_project(tmp_path)
    main = [step("look", "Inspect Script Lines", {"script_name": "main.py", "start_line_number": "first",
                                                  "end_line_number": 3}),
            step("look", "Inspect Script Lines", {"script_name": "main.py", "start_line_number": 1,
                                                  "end_line_number": 3}),
            step("two files", "Execute Script", {"script_name": ["a.py", "b.py"]}),
            step("run it", "Execute Script", {"script_name": "main.py"}),
            step("done", "Final Answer", {"final_answer": "NameError"})]
    models = scripted_models(main)
    result = run_experiment(options(root), models=models, feedback=NoFeedback())

    steps = _steps(result.run_dir)
    assert [s["action"] for s in steps] == ["Inspect Script Lines", "Execute Script", "Final Answer"]
    assert steps[0]["parse_attempts"] == 2 and steps[1]["parse_attempts"] == 2
    assert "'start_line_number' must be an integer" in steps[0]["parse_errors"][0]
    assert "'script_name' must be a JSON string" in steps[1]["parse_errors"][0]
    assert "got a list" in steps[1]["parse_errors"][0]
    assert not any(s["full_observation"].startswith("EnvError") for s in steps)
    correction = [c for c in models.main.calls if c["purpose"] == "agent_step"][1]["messages"][-1]["content"]
    assert "start_line_number" in correction and "Action Input" in correction


def _system_prompt(root) -> str:
    """The system prompt of a one-step run (a Final Answer) of the toy task under ``root``."""
    models = scripted_models([step("done", "Final Answer", {"final_answer": "x"})])
    run_experiment(options(root), models=models, feedback=NoFeedback())
    return models.main.calls[0]["messages"][0]["content"]


def test_the_prompt_lists_each_tool_on_one_line_with_typed_inputs_and_an_example(tmp_path):
    system = _system_prompt(make_project(tmp_path))
    assert '- Inspect Script Lines {"script_name": string, "start_line_number": integer' in system
    assert '- Execute Script {"script_name": string, "arguments"?: string}' in system
    assert "An example of a good run" in system
    assert json.dumps({"script_name": "train.py"}) in system  # the task's main script


def test_text_data_gets_a_text_tasks_worked_example_and_tabular_data_keeps_its_own(tmp_path):
    root = make_project(tmp_path)
    tabular = _system_prompt(root)
    assert "a stronger model of the same kind (regressor or classifier) from sklearn.ensemble" in tabular
    assert "for example a stronger model, feature scaling, or better settings." in tabular
    assert "TfidfVectorizer" not in tabular
    data = root / "workspaces" / "toy" / "data"
    data.mkdir()
    (data / "train.csv").write_text("id,review,stars\n" + "".join(
        f"{i},the cable stopped working after a week {i},low\n" for i in range(6)))
    (root / "tasks" / "toy").mkdir(parents=True)
    (root / "tasks" / "toy" / "task.json").write_text(json.dumps({"metric": "accuracy", "direction": "higher"}))
    text = _system_prompt(root)
    assert "another task whose input is free text" in text and "sklearn.ensemble" not in text
    assert ("Replace the text features by TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2), "
            "fitted on the training texts only, and the model by LogisticRegression(C=10, max_iter=1000).") in text
    assert "for example TF-IDF features of words and word pairs with a linear model, or better settings." in text
    assert text.replace(text[text.index("An example"):text.index("Always respond")], "") == \
        tabular.replace(tabular[tabular.index("An example"):tabular.index("Always respond")], "").replace(
            "a stronger model, feature scaling,", "TF-IDF features of words and word pairs with a linear model,")


def test_a_script_rerun_whose_only_change_is_its_own_output_is_a_repeat(tmp_path):
    root = make_project(tmp_path)
    (root / "workspaces" / "toy" / "main.py").write_text(
        "open('out.txt', 'w').write('mean 2.5')\nprint('Validation mean: 2.5')\n")
    run = step("run it", "Execute Script", {"script_name": "main.py"})
    main = [run, run,  # the first run wrote out.txt: that does not make a second run useful
            step("done", "Final Answer", {"final_answer": "mean 2.5"})]
    result = run_experiment(options(root), models=scripted_models(main), feedback=NoFeedback())
    steps = _steps(result.run_dir)
    assert [s["action"] for s in steps] == ["Execute Script", "Final Answer"]
    assert "repeated action: Execute Script" in steps[1]["parse_errors"][0]


def test_human_feedback_lets_the_agent_repeat_an_action(tmp_path):
    from mlr_copilot.feedback import FeedbackChannel, FeedbackResult

    class OnceFeedback(FeedbackChannel):
        given = False

        def after_step(self, view):
            if self.given:
                return FeedbackResult()
            self.given = True
            return FeedbackResult(text="run it once more, please")

    root = make_project(tmp_path)
    run = step("run it", "Execute Script", {"script_name": "main.py"})
    main = [run, run, step("done", "Final Answer", {"final_answer": "NameError"})]
    result = run_experiment(options(root), models=scripted_models(main),
                            feedback=OnceFeedback())
    assert [s["action"] for s in _steps(result.run_dir)] == ["Execute Script", "Execute Script", "Final Answer"]


def test_the_compact_prompt_shows_steps_without_copied_narrative_and_where_the_research_stands(tmp_path):
    root = make_project(tmp_path)
    main = [step("look around", "List Files", {"dir_path": "."}),
            step("done", "Final Answer", {"final_answer": "x"})]
    models = scripted_models(main)
    run_experiment(options(root, prompt_style="compact"), models=models, feedback=NoFeedback())
    second = [c for c in models.main.calls if c["purpose"] == "agent_step"][1]["messages"][1]["content"]
    assert "Step 1:\nAction: List Files" in second and "Thought: look around" not in second
    assert "Your plan after step 1: 1. baseline 2. improve" in second
    assert "Usual next move: run the main script unchanged with Execute Script" in second
    assert "Research log so far" not in second
    assert not [c for c in models.fast.calls if c["purpose"] == "research_log_entry"]  # brief entries


def test_a_starter_that_keeps_some_input_columns_is_told_the_line_that_keeps_them_all(tmp_path):
    root = make_project(tmp_path)
    ws = root / "workspaces" / "toy"
    (ws / "data").mkdir()
    (ws / "data" / "train.csv").write_text("id,width,depth,height,label\n" + "".join(
        f"{i},{i % 7},{i % 5},{i % 3},{i % 2}\n" for i in range(20)))
    (ws / "data" / "test.csv").write_text("id,width,depth,height\n" + "".join(
        f"{i},{i % 4},{i % 6},{i % 3}\n" for i in range(20, 30)))
    (ws / "main.py").write_text('features = ["width"]\nprint("Validation accuracy: 0.61")\n')
    (root / "tasks" / "toy").mkdir(parents=True)
    (root / "tasks" / "toy" / "task.json").write_text(json.dumps({"script": "main.py", "metric": "accuracy"}))
    main = [step("measure", "Execute Script", {"script_name": "main.py"}),
            step("done", "Final Answer", {"final_answer": "x"})]
    models = scripted_models(main)
    run_experiment(options(root, prompt_style="compact"), models=models, feedback=NoFeedback())
    second = [c for c in models.main.calls if c["purpose"] == "agent_step"][1]["messages"][1]["content"]
    assert ("Usual next move: improve the script with one clear change using Edit Script (AI), saving it under "
            "the same name (for example the edit instruction \"Use every input column: make it "
            "`features = ['width', 'depth', 'height']` (it keeps 1 of the 3 now). Replace the model by") in second


def test_a_final_answer_before_the_change_was_run_is_asked_again_once(tmp_path):
    root = make_project(tmp_path)
    edit = step("fix", "Edit Script (AI)", {"script_name": "main.py", "edit_instruction": "fix valuez",
                                             "save_name": "main.py"})
    final = step("done", "Final Answer", {"final_answer": "mean 2.5"})
    main = [edit, final, step("run it", "Execute Script", {"script_name": "main.py"}), final]
    models = scripted_models(main, ["values = [1, 2, 3, 4]\nprint('mean', sum(values) / len(values))\n"])
    result = run_experiment(options(root, max_steps=5, measure_first=True), models=models,
                            feedback=NoFeedback())
    steps = _steps(result.run_dir)
    assert [s["action"] for s in steps] == ["Edit Script (AI)", "Execute Script", "Final Answer"]
    assert "premature final answer: the change made in step 1 was never run" in steps[1]["parse_errors"][0]
    assert steps[2]["parse_attempts"] == 1  # after the run, the answer is taken at once


def test_undoing_an_edit_before_it_was_run_is_asked_again_once(tmp_path):
    root = make_project(tmp_path)
    fix = {"script_name": "main.py", "edit_instruction": "fix valuez", "save_name": "main.py"}
    undo = step("it did not help", "Undo Edit Script", {"script_name": "main.py"})
    main = [step("fix", "Edit Script (AI)", fix), undo,
            step("run it", "Execute Script", {"script_name": "main.py"}), undo]
    models = scripted_models(main, ["values = [1, 2, 3, 4]\nprint('mean', sum(values) / len(values))\n"])
    result = run_experiment(options(root, max_steps=3, measure_first=True), models=models, feedback=NoFeedback())
    steps = _steps(result.run_dir)
    assert [s["action"] for s in steps] == ["Edit Script (AI)", "Execute Script", "Undo Edit Script"]
    assert "unmeasured change: Undo Edit Script of main.py before the change of step 1 was run" \
        in steps[1]["parse_errors"][0]
    retry = [c for c in models.main.calls if c["purpose"] == "agent_step"][2]
    assert "take it back only if that run shows it failed" in retry["messages"][-1]["content"]
    assert "Undo Edit Script" not in retry["response_spec"].actions
    assert steps[2]["parse_attempts"] == 1  # after the run, the undo is taken at once


def test_a_final_answer_short_of_the_problems_goal_is_asked_again_once(tmp_path):
    root = make_project(tmp_path)
    (root / "problems" / "toy").write_text("Raise the validation accuracy of main.py by at least 10%.\n")
    (root / "workspaces" / "toy" / "main.py").write_text("print('Validation accuracy: 0.70')\n")
    run = step("run it", "Execute Script", {"script_name": "main.py"})
    edit = step("better", "Edit Script (AI)", {"script_name": "main.py", "edit_instruction": "a better model",
                                                "save_name": "main.py"})
    final = step("done", "Final Answer", {"final_answer": "accuracy 0.72"})
    models = scripted_models([run, edit, run, final, final], ["print('Validation accuracy: 0.72')\n"])
    result = run_experiment(options(root, max_steps=6, measure_first=True), models=models, feedback=NoFeedback())
    steps = _steps(result.run_dir)
    assert [s["action"] for s in steps] == ["Execute Script", "Edit Script (AI)", "Execute Script", "Final Answer"]
    assert ("premature final answer: the validation accuracy went from 0.7 (step 1) to 0.72 (step 3), +2.9%, "
            "and the task asks for an improvement of at least 10%, so the goal is not reached yet") \
        in steps[3]["parse_errors"][0]  # asked once; the model kept its answer, and it was taken


def test_a_second_edit_before_the_first_was_run_is_asked_again_once(tmp_path):
    root = make_project(tmp_path)
    fix = {"script_name": "main.py", "edit_instruction": "fix valuez", "save_name": "main.py"}
    again = dict(fix, edit_instruction="also print the count")
    main = [step("fix", "Edit Script (AI)", fix), step("more", "Edit Script (AI)", again),
            step("run it", "Execute Script", {"script_name": "main.py"}),
            step("more", "Edit Script (AI)", again)]
    models = scripted_models(main, ["values = [1, 2, 3, 4]\nprint('mean', sum(values) / len(values))\n",
                                    "values = [1, 2, 3, 4]\nprint('mean', sum(values) / len(values), len(values))\n"])
    result = run_experiment(options(root, max_steps=3, measure_first=True), models=models,
                            feedback=NoFeedback())
    steps = _steps(result.run_dir)
    assert [s["action"] for s in steps] == ["Edit Script (AI)", "Execute Script", "Edit Script (AI)"]
    assert "unmeasured change: Edit Script (AI) of main.py before the change of step 1 was run" \
        in steps[1]["parse_errors"][0]
    retry = [c for c in models.main.calls if c["purpose"] == "agent_step"][2]
    assert "has not been run yet" in retry["messages"][-1]["content"]
    assert not {"Edit Script (AI)", "Edit Script Segment (AI)"} & set(retry["response_spec"].actions)
    assert steps[2]["parse_attempts"] == 1  # after the run, the next edit is taken at once
    assert "mean 2.5" in steps[1]["observation"]


@pytest.mark.parametrize("action, args", [
    ("Final Answer", {"final_answer": "mean 2.5"}),
    ("Undo Edit Script", {"script_name": "main.py"}),
    ("Edit Script (AI)", {"script_name": "main.py", "edit_instruction": "also print the count", "save_name": "main.py"}),
], ids=["final", "undo", "edit"])
def test_a_move_that_leaves_the_main_scripts_change_unmeasured_runs_it_instead(tmp_path, action, args):
    """When the task names its main script, the one right move after an unrun change of it is
    to run it: the step does that instead of asking again (a second answer costs 6-12 s on two
    cores), and the agent reads why under the output. Changes of other files are asked again
    (the tests above): which script measures them is the agent's call."""
    root = make_project(tmp_path)
    (root / "tasks" / "toy").mkdir(parents=True)
    (root / "tasks" / "toy" / "task.json").write_text(json.dumps({"script": "main.py", "metric": "accuracy"}))
    run = step("measure", "Execute Script", {"script_name": "main.py"})
    fix = step("fix", "Edit Script (AI)", {"script_name": "main.py", "edit_instruction": "fix valuez",
                                           "save_name": "main.py"})
    models = scripted_models([run, fix, step("next", action, args)], ["values = [1, 2, 3, 4]\nprint('mean', sum(values) / len(values))\n"])
    result = run_experiment(options(root, max_steps=3, measure_first=True), models=models, feedback=NoFeedback())
    steps = _steps(result.run_dir)
    assert [s["action"] for s in steps] == ["Execute Script", "Edit Script (AI)", "Execute Script"]
    assert steps[2]["parse_errors"] == [f"unmeasured change: {action} before the change of step 2 to "
                                        "main.py was run; main.py was run instead"]
    assert "mean 2.5" in steps[2]["observation"]  # the change's own result
    assert f"Your {action} was not made: the change made to main.py in step 2" in steps[2]["observation"]
    assert len([c for c in models.main.calls if c["purpose"] == "agent_step"]) == 3
    assert steps[2]["exit_code"] == 0


def test_an_edit_that_changed_nothing_asked_again_with_other_numbers_is_asked_again(tmp_path):
    """A digits run asked for 1500, 2000, 2500 and 3000 trees of a decision tree: four edits in
    a row that changed nothing."""
    from test_agent_e2e import BUGGY
    root = make_project(tmp_path)
    trees = {"script_name": "main.py", "edit_instruction": "Use 1500 trees.", "save_name": "main.py"}
    main = [step("more trees", "Edit Script (AI)", trees),
            step("even more", "Edit Script (AI)", dict(trees, edit_instruction="Use 2000 trees.")),
            step("run it", "Execute Script", {"script_name": "main.py"}),
            step("done", "Final Answer", {"final_answer": "It fails with a NameError."})]
    models = scripted_models(main, [BUGGY])  # the edit model gives the file back unchanged
    result = run_experiment(options(root), models=models, feedback=NoFeedback())
    steps = _steps(result.run_dir)
    assert [s["action"] for s in steps] == ["Edit Script (AI)", "Execute Script", "Final Answer"]
    assert "The edit changed nothing" in steps[0]["observation"]
    assert steps[1]["parse_errors"] == ["repeated edit: Edit Script (AI) as in step 1, other numbers only"]
    retry = [c for c in models.main.calls if c["purpose"] == "agent_step"][2]
    assert "with other numbers only. That edit changed nothing" in retry["messages"][-1]["content"]
    assert "Edit Script (AI)" not in retry["response_spec"].actions


def test_a_model_that_insists_on_a_repeat_loses_that_step_not_the_run(tmp_path):
    """Without a grammar (a server backend) nothing stops a small model from repeating itself
    at every retry; once its retries are spent the answer is run, and the run goes on."""
    root = make_project(tmp_path)
    list_files = step("look", "List Files", {"dir_path": "."})
    final = step("done", "Final Answer", {"final_answer": "It fails with a NameError."})
    main = [list_files] * 6 + [step("run it", "Execute Script", {"script_name": "main.py"}), final, final]
    models = scripted_models(main)
    result = run_experiment(options(root, prompt_style="compact", max_parse_attempts=5), models=models,
                            feedback=NoFeedback())
    assert result.status == "final_answer", result.message
    steps = _steps(result.run_dir)
    assert [s["action"] for s in steps] == ["List Files", "List Files", "Execute Script", "Final Answer"]
    assert steps[1]["parse_attempts"] == 5
    assert steps[1]["parse_errors"][-1] == "taken after 5 attempts: List Files"
    retry = [c for c in models.main.calls if c["purpose"] == "agent_step"][2]
    # compact: the correction is part of the prompt; the model's own refused answer is not shown
    assert [m["role"] for m in retry["messages"]] == ["system", "user"]
    assert "which you already did at step 1" in retry["messages"][-1]["content"]


def test_the_compact_prompt_folds_older_steps_in_blocks_so_its_start_stays_the_same(tmp_path):
    """A local model reads again everything after the first changed token of the prompt: older
    steps fold into one line three at a time, so most steps only add to the previous prompt."""
    root = make_project(tmp_path)
    main = [step("look", "List Files", {"dir_path": "."})]
    main += [step("read", "Inspect Script Lines", {"script_name": "main.py", "start_line_number": 1,
                                                    "end_line_number": end}) for end in (1, 2, 3, 4, 5)]
    main += [step("run it", "Execute Script", {"script_name": "main.py"}),
             step("read", "Inspect Script Lines", {"script_name": "main.py", "start_line_number": 2,
                                                   "end_line_number": 3})]
    models = scripted_models(main)
    run_experiment(options(root, prompt_style="compact", max_steps=8), models=models, feedback=NoFeedback())
    prompts = [c["messages"][1]["content"] for c in models.main.calls if c["purpose"] == "agent_step"]
    assert len(prompts) == 8
    shown = [sum(f"Step {n}:\nAction:" in p for n in range(1, 9)) for p in prompts]
    folded = [sum(f"Step {n}: " in p for n in range(1, 9)) for p in prompts]
    assert shown == [0, 1, 2, 3, 4, 5, 3, 4] and folded == [0, 0, 0, 0, 0, 0, 3, 3]
    history = [p.split("Your plan after step")[0] for p in prompts]
    kept = [later.startswith(earlier) for earlier, later in zip(history[1:], history[2:])]  # step 1 has none
    assert kept == [True, True, True, True, False, True]  # only step 7 rewrites the start


def test_the_full_prompt_keeps_its_window_of_three_steps(tmp_path):
    """Hosted models keep MLAgentBench's history: the last three steps in full, one fold a step."""
    root = make_project(tmp_path)
    main = [step("read", "Inspect Script Lines", {"script_name": "main.py", "start_line_number": 1,
                                                   "end_line_number": end}) for end in (1, 2, 3, 4, 5)]
    main += [step("done", "Final Answer", {"final_answer": "It fails with a NameError."})]
    models = scripted_models(main)
    run_experiment(options(root, max_steps=6), models=models, feedback=NoFeedback())
    prompts = [c["messages"][1]["content"] for c in models.main.calls if c["purpose"] == "agent_step"]
    assert [sum(f"Step {n}: " in p for n in range(1, 7)) for p in prompts] == [0, 0, 0, 0, 1, 2]


def test_an_edit_of_the_starter_before_its_baseline_ran_runs_the_starter_instead(tmp_path):
    """On probes the agent edited the starter first in three runs of five; two then answered
    without ever knowing what the starter scored, so no result could be compared. The step runs
    the starter unchanged instead (its one right move, without a second answer) and says so; the
    edit asked for again next step is made. A script the workspace does not have yet is written
    at once: there is no baseline to measure."""
    root = make_project(tmp_path)
    (root / "tasks" / "toy").mkdir(parents=True)
    (root / "tasks" / "toy" / "task.json").write_text(json.dumps({"script": "main.py", "metric": "accuracy"}))
    edit = step("better", "Edit Script (AI)", {"script_name": "main.py", "edit_instruction": "fix valuez",
                                                "save_name": "main.py"})
    models = scripted_models([edit, edit], ["values = [1, 2, 3, 4]\nprint('mean', sum(values) / len(values))\n"])
    result = run_experiment(options(root, max_steps=2, measure_first=True), models=models, feedback=NoFeedback())
    steps = _steps(result.run_dir)
    assert [s["action"] for s in steps] == ["Execute Script", "Edit Script (AI)"]
    assert steps[0]["action_input"] == {"script_name": "main.py"}
    assert steps[0]["parse_errors"] == ["unmeasured baseline: Edit Script (AI) of main.py before any script ran; "
                                        "main.py was run unchanged instead"]
    assert steps[0]["observation"].rstrip().endswith("Ask for your change again now if you still want it.")
    assert "NameError" in steps[0]["observation"]  # the starter's own result, before any change
    assert len([c for c in models.main.calls if c["purpose"] == "agent_step"]) == 2  # no second answer at step 1
    later = [c for c in models.main.calls if c["purpose"] == "agent_step"][1]["messages"][1]["content"]
    assert "Action: Execute Script" in later and "Your Edit Script (AI) was not made" in later
    assert steps[1]["parse_attempts"] == 1
    assert "mean 2.5" not in steps[0]["observation"]

    (root / "tasks" / "toy" / "task.json").write_text(json.dumps({"script": "new.py", "metric": "accuracy"}))
    write = step("write it", "Edit Script (AI)", {"script_name": "new.py", "edit_instruction": "print 1",
                                                   "save_name": "new.py"})
    models = scripted_models([write], ["print(1)\n"])
    result = run_experiment(options(root, max_steps=1, measure_first=True), models=models, feedback=NoFeedback())
    assert [(s["action"], s["parse_attempts"]) for s in _steps(result.run_dir)] == [("Edit Script (AI)", 1)]
