"""The status bar: the offline guard, the model, and the speed of the last answer.

The guard's state is read from :func:`assistant.offline.status`, not assumed: if the guard were
ever not installed, the bar would say so in red.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from assistant import offline


class StatusBar(QStatusBar):
    """Permanent fields: offline guard, model, tokens per second."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.guard = QLabel()
        self.guard.setAccessibleName("Offline guard")
        self.model = QLabel("Model: loading …")
        self.model.setAccessibleName("Model")
        self.speed = QLabel("")
        self.speed.setAccessibleName("Speed of the last answer")
        for label in (self.guard, self.model, self.speed):
            self.addPermanentWidget(label)
        self.refresh_guard()

    def refresh_guard(self) -> None:
        status = offline.status()
        if status.active:
            self.guard.setText("Offline · guard active")
            self.guard.setStyleSheet("")
        else:
            self.guard.setText("Offline guard NOT active")
            self.guard.setStyleSheet("color: #c0392b; font-weight: bold")
        self.guard.setToolTip(status.describe())

    def set_model(self, text: str, tooltip: str = "") -> None:
        self.model.setText(f"Model: {text}")
        self.model.setToolTip(tooltip)

    def set_speed(self, tokens_per_second: float) -> None:
        self.speed.setText(f"{tokens_per_second:.1f} tok/s" if tokens_per_second > 0 else "")
        self.speed.setToolTip("Decoding speed of the last answer")
