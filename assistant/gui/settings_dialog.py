"""The settings dialog: model and generation settings, validated like the settings file.

Every value goes through :func:`assistant.config.with_value`, the same validation the TOML file
gets, so the form refuses exactly what the file would refuse, with the same message. Nothing is
saved unless every value passes. The spin boxes only bound the widgets; the schema decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from assistant.config import SCHEMA, Paths, Settings, save_settings, with_value
from assistant.errors import ConfigError

#: Retrieval depth lives in settings.toml when the schema has a key for it; until then the GUI
#: keeps it in its own preferences (see :mod:`assistant.gui.app`).
RETRIEVAL_KEYS = ("knowledge.top_k", "retrieval.top_k")
DEFAULT_RETRIEVAL_TOP_K = 5


def retrieval_key() -> str | None:
    """The settings-file key for retrieval top-k, if the schema declares one."""
    for dotted in RETRIEVAL_KEYS:
        section, _, key = dotted.partition(".")
        if key in SCHEMA.get(section, {}):
            return dotted
    return None


def read_retrieval_top_k(settings: Settings, fallback: int) -> int:
    dotted = retrieval_key()
    if dotted is None:
        return fallback
    section, _, key = dotted.partition(".")
    value = getattr(getattr(settings, section, None), key, fallback)
    return int(value) if isinstance(value, int) else fallback


@dataclass(frozen=True)
class SettingsResult:
    settings: Settings
    retrieval_top_k: int
    model_changed: bool


def _spin(low: int, high: int, value: int, name: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setAccessibleName(name)
    return spin


def _double(low: float, high: float, step: float, value: float, name: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setDecimals(2)
    spin.setSingleStep(step)
    spin.setValue(value)
    spin.setAccessibleName(name)
    return spin


class SettingsDialog(QDialog):
    """Edit, validate and save the settings; :attr:`saved` holds what was saved."""

    MODEL_KEYS = ("model.threads", "model.gpu_layers", "model.context_size")

    def __init__(
        self, paths: Paths, settings: Settings, retrieval_top_k: int, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setAccessibleName("Settings")
        self._paths = paths
        self._settings = settings
        self.saved: SettingsResult | None = None
        m, g = settings.model, settings.generation
        # Widget bounds are generous on purpose: the schema, not the widget, refuses values.
        self.fields: dict[str, Any] = {
            "model.threads": _spin(0, 4096, m.threads, "Threads"),
            "model.gpu_layers": _spin(-1, 100_000, m.gpu_layers, "GPU layers"),
            "model.context_size": _spin(0, 1 << 21, m.context_size, "Context size"),
            "generation.temperature": _double(0.0, 10.0, 0.05, g.temperature, "Temperature"),
            "generation.top_p": _double(0.0, 2.0, 0.05, g.top_p, "Top-p"),
            "generation.top_k": _spin(0, 1_000_000, g.top_k, "Top-k"),
            "generation.max_tokens": _spin(0, 1 << 21, g.max_tokens, "Maximum answer tokens"),
        }
        self.retrieval = _spin(0, 100, retrieval_top_k, "Retrieval top-k")
        self.system_prompt = QPlainTextEdit(g.system_prompt)
        self.system_prompt.setAccessibleName("System prompt")
        self.system_prompt.setTabChangesFocus(True)

        form = QFormLayout()
        labels = {
            "model.threads": "&Threads (0 = automatic):",
            "model.gpu_layers": "&GPU layers (-1 = all):",
            "model.context_size": "&Context size (tokens):",
            "generation.temperature": "T&emperature:",
            "generation.top_p": "Top-&p:",
            "generation.top_k": "Top-&k:",
            "generation.max_tokens": "&Maximum answer tokens:",
        }
        for key, widget in self.fields.items():
            form.addRow(labels[key], widget)
        form.addRow("&Retrieval top-k (passages):", self.retrieval)
        form.addRow("&System prompt:", self.system_prompt)
        layout = QVBoxLayout(self)
        note = QLabel(
            "Changing threads, GPU layers or the context size reloads the model. "
            f"Saved to {paths.settings_file}."
        )
        note.setWordWrap(True)
        layout.addWidget(note)
        layout.addLayout(form)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setAccessibleName("Settings error")
        self.error.setStyleSheet("color: #c0392b")
        layout.addWidget(self.error)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

    def candidate(self) -> tuple[Settings, int]:
        """The settings the form describes.

        Raises:
            ConfigError: a value is refused; the message names it and the allowed range.
        """
        settings = self._settings
        for key, widget in self.fields.items():
            settings = with_value(settings, key, widget.value())
        settings = with_value(
            settings, "generation.system_prompt", self.system_prompt.toPlainText()
        )
        top_k = self.retrieval.value()
        dotted = retrieval_key()
        if dotted is not None:
            settings = with_value(settings, dotted, top_k)
        elif top_k < 1:
            raise ConfigError("setting: retrieval top-k must be at least 1 (got 0).")
        return settings, top_k

    def accept(self) -> None:
        try:
            settings, top_k = self.candidate()
            save_settings(self._paths, settings)
        except ConfigError as exc:
            self.error.setText(str(exc))
            return
        model_changed = any(
            getattr(settings.model, key.split(".")[1])
            != getattr(self._settings.model, key.split(".")[1])
            for key in self.MODEL_KEYS
        )
        self.saved = SettingsResult(settings, top_k, model_changed)
        super().accept()
