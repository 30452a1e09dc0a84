"""The compact prompt for small models: steps without their copied narrative, the latest plan,
and where the research stands (what was measured, the usual next move), from the steps alone."""
from mlr_copilot.agents.experiment import StepMemory
from mlr_copilot.agents.next_move import where_we_are


def mem(step, action, observation, **args):
    return StepMemory(step, {"Thought": "t"}, action, args, observation)


RUN_OK = "The script has been executed. Here is the output:\nValidation accuracy: 0.7659\nWrote it\n\nExit code: 0"
RUN_BETTER = "The script has been executed. Here is the output:\nValidation accuracy: 0.9512\n\nExit code: 0"
RUN_FAIL = "The script has been executed. Here is the output:\nNameError: name 'x' is not defined\n\nExit code: 1"
EDITED = "The edited file is saved to train.py. Here is the diff: ..."


def test_first_the_baseline_then_a_change_then_its_run_then_the_answer():
    h = [mem(1, "List Files", "data/\ntrain.py", dir_path=".")]
    assert "measure the baseline" in where_we_are(h)
    h.append(mem(2, "Execute Script", RUN_OK, script_name="train.py"))
    text = where_we_are(h)
    assert "Measured so far: step 2: Validation accuracy: 0.7659" in text
    assert "improve the script with one clear change using Edit Script (AI)" in text
    h.append(mem(3, "Edit Script (AI)", EDITED, script_name="train.py"))
    assert "run the changed script with Execute Script to measure the change made in step 3" in where_we_are(h)
    h.append(mem(4, "Execute Script", RUN_BETTER, script_name="train.py"))
    text = where_we_are(h)
    assert "step 2: Validation accuracy: 0.7659 | step 4: Validation accuracy: 0.9512" in text
    assert "with the baseline (step 2): if it is clearly better, give the Final Answer" in text


def test_a_failed_run_asks_for_a_fix_and_a_failed_edit_is_not_a_change():
    h = [mem(1, "Execute Script", RUN_OK, script_name="train.py"),
         mem(2, "Edit Script (AI)", "EnvError: The file x.py does not exist.", script_name="x.py")]
    assert "improve the script" in where_we_are(h)  # the edit failed: nothing to run yet
    h += [mem(3, "Edit Script (AI)", EDITED, script_name="train.py"),
          mem(4, "Execute Script", RUN_FAIL, script_name="train.py")]
    text = where_we_are(h)
    assert "the run in step 4 failed" in text and "NameError" in text and "Undo Edit Script" in text


def test_the_same_error_after_a_fix_asks_to_take_the_changes_back():
    traceback = ("The script has been executed. Here is the output:\nTraceback (most recent call last):\n"
                 "  File \"train.py\", line {n}, in <module>\nNameError: name 'fit_part' is not defined\n\n"
                 "Exit code: 1 (the script failed), after 1.6 s.")
    h = [mem(1, "Execute Script", RUN_OK, script_name="train.py"),
         mem(2, "Edit Script (AI)", EDITED, script_name="train.py"),
         mem(3, "Execute Script", traceback.format(n=21), script_name="train.py")]
    assert "fix the cause with Edit Script (AI)" in where_we_are(h)  # a first failure: fix it
    h += [mem(4, "Edit Script (AI)", EDITED, script_name="train.py"),
          mem(5, "Execute Script", traceback.format(n=18), script_name="train.py")]
    text = where_we_are(h)
    assert ("the run in step 5 failed with the same error as the run in step 3 (NameError: name 'fit_part' is "
            "not defined), although the script was changed in between: that fix did not work") in text
    assert "Take the changes back with Undo Edit Script" in text and "fix the cause" not in text
    # a different error after the fix is progress: back to fixing
    h += [mem(6, "Edit Script (AI)", EDITED, script_name="train.py"), mem(7, "Execute Script", RUN_FAIL)]
    assert "fix the cause with Edit Script (AI)" in where_we_are(h)
    # the same error run twice with no change between is not a failed fix
    h2 = h[:3] + [mem(4, "Execute Script", traceback.format(n=21), script_name="train.py")]
    assert "fix the cause with Edit Script (AI)" in where_we_are(h2)


def test_a_change_made_before_any_run_is_measured_then_answered_not_changed_again():
    h = [mem(1, "Edit Script (AI)", EDITED, script_name="train.py"),
         mem(2, "Execute Script", RUN_BETTER, script_name="train.py")]
    text = where_we_are(h)
    assert "the starting script, whose result this run did not measure" in text
    assert "give the Final Answer" in text


def test_a_final_answer_is_premature_until_a_change_was_made_and_measured():
    from mlr_copilot.agents.next_move import unfinished_work
    h = [mem(1, "Execute Script", RUN_OK, script_name="train.py")]
    assert "nothing has been changed yet" in unfinished_work(h)
    h.append(mem(2, "Edit Script (AI)", EDITED, script_name="train.py"))
    assert "the change made in step 2 was never run" in unfinished_work(h)
    h.append(mem(3, "Execute Script", RUN_BETTER, script_name="train.py"))
    assert unfinished_work(h) is None


def test_a_final_answer_after_a_failed_run_or_with_nothing_improved_is_premature():
    """Seen in a wine loop run: a change failed, the agent undid it, ran the baseline again and
    answered that the model "is already performing well"; the run ended at +0.0%."""
    from mlr_copilot.agents.next_move import unfinished_work
    h = [mem(1, "Execute Script", RUN_OK, script_name="train.py"),
         mem(2, "Edit Script (AI)", EDITED, script_name="train.py"),
         mem(3, "Execute Script", RUN_FAIL, script_name="train.py")]
    assert "the last run (step 3) failed" in unfinished_work(h)
    h += [mem(4, "Undo Edit Script", "Content of train.py after undo the most recent edit: ...",
              script_name="train.py"),
          mem(5, "Execute Script", RUN_OK, script_name="train.py")]
    reason = unfinished_work(h)
    assert "every run so far measured the same as the first (Validation accuracy: 0.7659)" in reason
    assert "nothing has improved yet" in reason
    text = where_we_are(h)
    assert "the same as the first (step 1): no change has improved it yet" in text
    assert "give the Final Answer" not in text
    assert "(for example use every input column)." in where_we_are(h, "use every input column")  # the idea again
    # a different result, better or worse, is the agent's to judge
    h += [mem(6, "Edit Script (AI)", EDITED, script_name="train.py"),
          mem(7, "Execute Script", RUN_BETTER, script_name="train.py")]
    assert unfinished_work(h) is None
    assert "give the Final Answer" in where_we_are(h)


def test_an_edit_of_a_file_whose_last_change_never_ran_is_an_unrun_change():
    from mlr_copilot.agents.next_move import unrun_change
    edit = {"script_name": "train.py", "edit_instruction": "x", "save_name": "train.py"}
    h = [mem(1, "Execute Script", RUN_OK, script_name="train.py"),
         mem(2, "Edit Script (AI)", EDITED, **edit)]
    assert unrun_change("Edit Script (AI)", edit, h).step == 2
    assert unrun_change("Edit Script Segment (AI)", dict(edit, save_name="./train.py"), h).step == 2
    assert unrun_change("Edit Script (AI)", dict(edit, save_name="other.py"), h) is None  # another file
    assert unrun_change("Execute Script", {"script_name": "train.py"}, h) is None
    h.append(mem(3, "Execute Script", RUN_FAIL, script_name="train.py"))
    assert unrun_change("Edit Script (AI)", edit, h) is None  # it ran (and failed): fixing it is fine


def test_an_edit_that_changed_nothing_is_not_a_change():
    from mlr_copilot.agents.next_move import unrun_change
    edit = {"script_name": "train.py", "edit_instruction": "x", "save_name": "train.py"}
    h = [mem(1, "Execute Script", RUN_OK, script_name="train.py"),
         mem(2, "Edit Script (AI)", "The edited file is saved to train.py. The edit changed nothing.", **edit)]
    assert unrun_change("Edit Script (AI)", edit, h) is None
    text = where_we_are(h)
    assert "the edit of step 2 changed nothing" in text and "Ask for a different change that names exactly" in text
    h.append(mem(3, "Execute Script", RUN_OK, script_name="train.py"))
    assert "changed nothing" not in where_we_are(h)  # only right after it


def test_an_undo_of_an_unrun_rewrite_is_an_unmeasured_change_and_an_undo_of_an_undo_is_not():
    from mlr_copilot.agents.next_move import unrun_change
    h = [mem(1, "Execute Script", RUN_OK, script_name="train.py"),
         mem(2, "Edit Script (AI)", EDITED, script_name="train.py", save_name="train.py")]
    assert unrun_change("Undo Edit Script", {"script_name": "train.py"}, h).step == 2
    assert unrun_change("Undo Edit Script", {"script_name": "other.py"}, h) is None
    h.append(mem(3, "Undo Edit Script", "Content of train.py after undo the most recent edit: ...",
                 script_name="train.py"))
    assert unrun_change("Undo Edit Script", {"script_name": "train.py"}, h) is None  # undoing further is the agent's call
    h.append(mem(4, "Execute Script", RUN_OK, script_name="train.py"))
    assert unrun_change("Undo Edit Script", {"script_name": "train.py"}, h) is None
