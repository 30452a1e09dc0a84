"""The run directory and its records: every path of a run (``layout``), the typed records
of its logs (``schema``), ``run.json`` (``run_info``), the recorder of a run (``recorder``) and
the idea record beside a problem text (``idea``: pydantic, so imported only where it is used).

A low layer: it imports only ``errors`` and ``logs`` (and pydantic, for ``idea``), so the
environment, the LLM layer, the agents and the views all reach the run directory through it.
"""
from .layout import EnvLog, RunDir, create_run_dir, find_call_log, find_full_log, idea_json_path, utc_stamp
from .run_info import RunInfo
from .schema import (SCHEMA_VERSION, STEP_KEYS, ActionRecord, LLMCallRecord, RunStatus, StepRecord,
                     check_schema, idea_attempts, llm_calls, usage_figures)

__all__ = ["EnvLog", "RunDir", "create_run_dir", "find_call_log", "find_full_log", "idea_json_path", "utc_stamp",
           "RunInfo", "SCHEMA_VERSION", "STEP_KEYS", "ActionRecord", "LLMCallRecord", "RunStatus", "StepRecord",
           "check_schema", "idea_attempts", "llm_calls", "usage_figures"]
