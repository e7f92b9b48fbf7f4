"""The smallest lifecycle, on both databases."""

from registry_core import Registry, Stage


def test_register_promote_and_resolve(registry: Registry, model_file):
    """A registered, approved version resolves as Production."""
    registry.register("fraud", model_file)
    registry.transition("fraud", 1, "Staging")
    registry.as_actor("bob").approve("fraud", 1)
    registry.promote("fraud", 1)
    assert registry.resolve("models:/fraud/Production").stage is Stage.PRODUCTION
    assert registry.verify_audit().intact
