"""The parts of MLflow's registry store this registry does not offer, each refused with a reason.

Prompts live in MLflow as registered models with special tags and
free-form versions; they are not governed models, so the catalog refuses
them. (MLflow's webhooks are offered: :mod:`.webhooks`.)
"""

from __future__ import annotations

from typing import Any, NoReturn

from .errors import not_implemented

__all__ = ["PROMPTS_REFUSED", "RefusedOperations"]

PROMPTS_REFUSED = "prompts are not governed models; keep them in a separate MLflow registry"


def _prompts(operation: str) -> NoReturn:
    raise not_implemented(f"{operation} (MLflow prompts)", PROMPTS_REFUSED)


class RefusedOperations:
    """Prompt operations of MLflow's ``AbstractStore``, defined here so none falls through to a default."""

    def create_prompt(self, name: str, description: str | None = None, tags: Any = None) -> Any:
        _prompts("create_prompt")

    def search_prompts(self, filter_string: Any = None, max_results: Any = None, order_by: Any = None,
                       page_token: Any = None) -> Any:
        _prompts("search_prompts")

    def delete_prompt(self, name: str) -> None:
        _prompts("delete_prompt")

    def set_prompt_tag(self, name: str, key: str, value: str) -> None:
        _prompts("set_prompt_tag")

    def delete_prompt_tag(self, name: str, key: str) -> None:
        _prompts("delete_prompt_tag")

    def get_prompt(self, name: str) -> Any:
        _prompts("get_prompt")

    def create_prompt_version(self, name: str, template: Any, description: Any = None, tags: Any = None,
                              response_format: Any = None, model_config: Any = None) -> Any:
        _prompts("create_prompt_version")

    def get_prompt_version(self, name: str, version: Any) -> Any:
        _prompts("get_prompt_version")

    def delete_prompt_version(self, name: str, version: Any) -> None:
        _prompts("delete_prompt_version")

    def get_prompt_version_by_alias(self, name: str, alias: str) -> Any:
        _prompts("get_prompt_version_by_alias")

    def set_prompt_alias(self, name: str, alias: str, version: Any) -> None:
        _prompts("set_prompt_alias")

    def delete_prompt_alias(self, name: str, alias: str) -> None:
        _prompts("delete_prompt_alias")

    def search_prompt_versions(self, name: str, max_results: Any = None, page_token: Any = None) -> Any:
        _prompts("search_prompt_versions")

    def link_prompts_to_trace(self, prompt_versions: Any, trace_id: str) -> None:
        _prompts("link_prompts_to_trace")

    def set_prompt_version_tag(self, name: str, version: Any, key: str, value: str) -> None:
        _prompts("set_prompt_version_tag")

    def delete_prompt_version_tag(self, name: str, version: Any, key: str) -> None:
        _prompts("delete_prompt_version_tag")

    def link_prompt_version_to_model(self, name: str, version: str, model_id: str) -> None:
        _prompts("link_prompt_version_to_model")

    def link_prompt_version_to_run(self, name: str, version: str, run_id: str) -> None:
        _prompts("link_prompt_version_to_run")

    @property
    def supports_workspaces(self) -> bool:
        """MLflow workspaces are not supported: one catalog is one registry."""
        return False
