"""tinybert: distil TinyBERT students from BERT/NEZHA teachers, on a NEZHA pretraining and finetuning core."""

__version__ = "0.1.0"


def _register() -> None:
    # Importing the NEZHA module registers it with the transformers Auto classes.
    try:
        from tinybert.models import nezha  # noqa: F401
    except ImportError:  # pragma: no cover - only while the package is partially built
        pass


_register()
