"""A long script output is cut to the prompt's limit without a model call, keeping its end."""
from mlr_copilot.agents.script_output import script_output_excerpt


def test_short_output_is_kept_and_long_output_fits_the_limit_with_its_last_line():
    assert script_output_excerpt("Validation accuracy: 0.9\n", 100) == "Validation accuracy: 0.9\n"
    one_line = "x" * 10_000 + " Exit code: 1"
    assert len(script_output_excerpt(one_line, 500)) <= 500
    many = "\n".join(f"step {i}" for i in range(2000)) + "\nValueError: bad\n\nExit code: 1 (the script failed)"
    cut = script_output_excerpt(many, 1000)
    assert len(cut) <= 1000 and cut.startswith("step 0\n") and cut.endswith("Exit code: 1 (the script failed)")
    assert "ValueError: bad" in cut and "lines of output left out" in cut
