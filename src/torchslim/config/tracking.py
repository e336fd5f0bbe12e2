"""The ``tracking:`` section: where each task is also logged as an experiment-tracker run."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TrackingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mlflow: bool = Field(False, description="log each task as an MLflow run (extra: torchslim[mlflow])")
    mlflow_uri: str | None = Field(
        None, description="tracking URI; default: an embedded SQLite store in mlruns/ beside the run folder"
    )
    experiment: str | None = Field(None, description="MLflow experiment; default: the run's name")
