"""Human feedback channels: what a person types reaches the agent, commands behave."""
import io

from mlr_copilot.feedback import (CombinedFeedback, ConsoleFeedback, FileFeedback, NoFeedback, StepView,
                                  make_feedback)

VIEW = StepView(step=1, thought="look at files", action="List Files", action_input={"dir_path": "."},
                observation="train.py\n" * 200)


def console(lines):
    answers = iter(lines)
    out = io.StringIO()
    return ConsoleFeedback(input_fn=lambda prompt: next(answers), output=out), out


def test_console_enter_continues_and_text_becomes_feedback():
    ch, out = console(["", "use a CNN instead"])
    assert ch.after_step(VIEW).text is None
    result = ch.after_step(VIEW)
    assert result.text == "use a CNN instead" and not result.stop
    shown = out.getvalue()
    assert "Thought: look at files" in shown and "List Files" in shown
    assert "more characters in the log" in shown  # long observation shows only its head


def test_console_commands_help_stop_auto():
    ch, out = console(["/help", "/stop"])
    assert ch.after_step(VIEW).stop
    assert "/auto" in out.getvalue()
    ch, _ = console(["/auto"])
    assert ch.after_step(VIEW).text is None
    assert ch.auto and ch.after_step(VIEW).text is None  # no more questions (input would raise)
    assert ch.ask("help?") is None


def test_console_eof_means_autonomous():
    def eof(prompt):
        raise EOFError
    ch = ConsoleFeedback(input_fn=eof, output=io.StringIO())
    assert ch.after_step(VIEW).text is None and ch.auto


def test_request_help_is_answered_on_console():
    ch, out = console(["try lr=0.01"])
    assert ch.ask("Which learning rate?") == "try lr=0.01"
    assert "Which learning rate?" in out.getvalue()


def test_file_feedback_picks_up_appended_lines_only(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("old line written before the run\n")
    ch = FileFeedback(path)
    assert ch.after_step(VIEW).text is None
    with open(path, "a") as f:
        f.write("first note\nsecond note\npartial")
    assert ch.after_step(VIEW).text == "first note\nsecond note"
    with open(path, "a") as f:
        f.write(" line completed\n/stop\n")
    result = ch.after_step(VIEW)
    assert result.text == "partial line completed" and result.stop


def test_make_feedback_modes(tmp_path):
    assert isinstance(make_feedback("auto", stdin_is_tty=False), NoFeedback)
    assert isinstance(make_feedback("auto", stdin_is_tty=True), ConsoleFeedback)
    assert isinstance(make_feedback("none", str(tmp_path / "f.txt"), stdin_is_tty=True), FileFeedback)
    assert isinstance(make_feedback("console", str(tmp_path / "f.txt")), CombinedFeedback)
