"""Linear probe: per-feature standardisation followed by L2-regularised logistic regression.

The regularisation strength ``C`` is either fixed or chosen automatically:

* with validation data passed to :meth:`LinearProbe.fit`, on the validation **log-loss** of a model
  fitted on the training data;
* otherwise by an inner stratified ``cv``-fold cross-validation on the training data, on the mean
  held-out log-loss.

Log-loss is used rather than AUC or accuracy because it is a proper scoring rule, is defined the same way
for two and for K classes, and is continuous, so it separates candidate ``C`` values on small validation
sets where AUC and accuracy are often tied. Near-ties (relative difference below ``1e-6``) are broken
toward the **smallest** ``C``, i.e. the strongest regularisation.
"""

from __future__ import annotations

import logging
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

__all__ = ["LinearProbe", "DEFAULT_CS"]

logger = logging.getLogger(__name__)

DEFAULT_CS: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
_TIE_RTOL = 1e-6
_NEWTON_MAX_WIDTH = 512  # solver="auto": Newton (Cholesky) up to this many coefficients, else lbfgs


def _trusted_inputs():
    """sklearn without its per-call input and parameter checks, for inputs ``fit`` has already validated
    (a large part of a small probe's time is these checks; the numbers are the same)."""
    import sklearn

    return sklearn.config_context(assume_finite=True, skip_parameter_validation=True)


class LinearProbe(ClassifierMixin, BaseEstimator):
    """Standardise features, then fit an L2 logistic regression (Newton-Cholesky or lbfgs, single-threaded).

    Args:
        C: inverse regularisation strength, or ``"auto"`` to choose it from ``Cs`` (see module docstring).
        Cs: candidate values of ``C`` when ``C="auto"``.
        cv: folds of the inner stratified cross-validation used when ``C="auto"`` and no validation data
            is given (reduced to the smallest class count if needed).
        max_iter: maximum lbfgs iterations.
        standardize: z-score every feature with statistics of the training data.
        class_weight: passed to :class:`~sklearn.linear_model.LogisticRegression` (e.g. ``"balanced"``).
        random_state: seed of the inner cross-validation shuffling.
        solver: scikit-learn solver; ``"auto"``: ``newton-cholesky`` (a few exact Newton steps) when there
            are at most 512 coefficients and twice as many samples, else ``lbfgs``.

    Fitted attributes:
        classes_: class labels seen in ``fit``.
        C_: the regularisation strength used for the final model.
        Cs_: the candidate values that were scored (``[C]`` when ``C`` is fixed).
        val_scores_: validation log-loss per entry of ``Cs_`` (lower is better; NaN when not measured).
        scaler_: the fitted :class:`~sklearn.preprocessing.StandardScaler`, or ``None``.
        model_: the fitted :class:`~sklearn.linear_model.LogisticRegression`.
        n_iter_: lbfgs iterations of the final fit (as ``model_.n_iter_``).
        n_features_in_: number of input features.
    """

    def __init__(
        self,
        C: float | str = "auto",
        Cs: tuple[float, ...] = DEFAULT_CS,
        cv: int = 3,
        max_iter: int = 2000,
        standardize: bool = True,
        class_weight: dict | str | None = None,
        random_state: int | None = 0,
        solver: str = "auto",
    ) -> None:
        self.C = C
        self.Cs = Cs
        self.cv = cv
        self.max_iter = max_iter
        self.standardize = standardize
        self.class_weight = class_weight
        self.random_state = random_state
        self.solver = solver

    # ------------------------------------------------------------------ helpers

    def _check_params(self) -> None:
        if isinstance(self.C, str):
            if self.C != "auto":
                raise ValueError(f"C must be a positive float or 'auto', got {self.C!r}")
        elif not isinstance(self.C, Real) or not self.C > 0:
            raise ValueError(f"C must be a positive float or 'auto', got {self.C!r}")
        if self.C == "auto":
            Cs = np.asarray(self.Cs, dtype=float)
            if Cs.ndim != 1 or Cs.size == 0 or not np.all(Cs > 0):
                raise ValueError(f"Cs must be a non-empty sequence of positive floats, got {self.Cs!r}")
        if not isinstance(self.cv, int) or self.cv < 2:
            raise ValueError(f"cv must be an int >= 2, got {self.cv!r}")
        if not isinstance(self.max_iter, int) or self.max_iter < 1:
            raise ValueError(f"max_iter must be a positive int, got {self.max_iter!r}")
        if self.solver not in ("auto", "lbfgs", "newton-cholesky"):
            raise ValueError(f"solver must be 'auto', 'lbfgs' or 'newton-cholesky', got {self.solver!r}")

    def _scaler(self, X: np.ndarray) -> StandardScaler | None:
        return StandardScaler().fit(X) if self.standardize else None

    def _fit_scaled(self, Xs: np.ndarray, y: np.ndarray, C: float) -> LogisticRegression:
        """One logistic regression on already standardised features (inputs were validated by ``fit``)."""
        with _trusted_inputs():
            return LogisticRegression(
                C=C, solver=self._solver(Xs, y), max_iter=self.max_iter, class_weight=self.class_weight
            ).fit(Xs, y)

    def _solver(self, X: np.ndarray, y: np.ndarray) -> str:
        if self.solver != "auto":
            return self.solver
        k = np.unique(y).size
        width = X.shape[1] * (1 if k == 2 else k)
        return "newton-cholesky" if width <= _NEWTON_MAX_WIDTH and X.shape[0] >= 2 * width else "lbfgs"

    @staticmethod
    def _proba(scaler: StandardScaler | None, model: LogisticRegression, X: np.ndarray) -> np.ndarray:
        return model.predict_proba(scaler.transform(X) if scaler is not None else X)

    @staticmethod
    def _pick(Cs: np.ndarray, losses: np.ndarray) -> float:
        """Smallest C whose loss is within a relative tolerance of the best loss."""
        finite = np.isfinite(losses)
        if not finite.any():
            logger.warning("no candidate C gave a finite validation loss; using C=1.0")
            return 1.0
        best = losses[finite].min()
        ok = finite & (losses <= best + _TIE_RTOL * max(abs(best), 1e-12))
        return float(Cs[ok].min())

    def _path(
        self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, Cs: np.ndarray
    ) -> tuple[StandardScaler | None, list[LogisticRegression], np.ndarray]:
        """Scaler (fitted once on ``X``), one model per ``C`` and their validation log-losses.

        The same numbers as fitting scaler and model anew for every ``C`` (both are deterministic); the
        scaler is fitted and applied once and sklearn's input checks run once, in ``fit``."""
        scaler = self._scaler(X)
        Xs = scaler.transform(X) if scaler is not None else X
        Xv = scaler.transform(X_val) if scaler is not None else X_val
        models, losses = [], np.empty(len(Cs))
        for i, C in enumerate(Cs):
            model = self._fit_scaled(Xs, y, float(C))
            models.append(model)
            with _trusted_inputs():
                losses[i] = log_loss(y_val, model.predict_proba(Xv), labels=model.classes_)
        return scaler, models, losses

    def _cv_losses(self, X: np.ndarray, y: np.ndarray, Cs: np.ndarray) -> np.ndarray:
        counts = np.unique(y, return_counts=True)[1]
        n_splits = min(self.cv, int(counts.min()))
        if n_splits < 2:
            logger.warning(
                "smallest class has %d sample(s): cannot cross-validate C; using C=1.0", counts.min()
            )
            return np.full(Cs.shape, np.nan)
        folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
        losses = np.zeros(Cs.shape)
        for tr, te in folds.split(X, y):
            losses += self._path(X[tr], y[tr], X[te], y[te], Cs)[2]
        return losses / n_splits

    # ------------------------------------------------------------------ API

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        X_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
    ) -> LinearProbe:
        """Fit on ``(X, y)``; ``(X_val, y_val)``, if given, is used only to choose ``C`` when ``C="auto"``."""
        self._check_params()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        classes = np.unique(y)
        if classes.size < 2:
            raise ValueError(f"LinearProbe needs samples of at least 2 classes; got 1 class ({classes[0]!r})")
        if (X_val is None) != (y_val is None):
            raise ValueError("pass both X_val and y_val, or neither")
        if X_val is not None:
            X_val = check_array(X_val, dtype=[np.float64, np.float32])
            y_val = np.asarray(y_val).ravel()
            if X_val.shape[1] != X.shape[1]:
                raise ValueError(f"X_val has {X_val.shape[1]} features, X has {X.shape[1]}")
            if X_val.shape[0] != y_val.shape[0]:
                raise ValueError(f"X_val has {X_val.shape[0]} rows but y_val has {y_val.shape[0]}")
            unseen = np.setdiff1d(y_val, classes)
            if unseen.size:
                raise ValueError(f"y_val contains classes absent from y: {unseen.tolist()}")

        fitted = None
        if self.C == "auto":
            Cs = np.sort(np.asarray(self.Cs, dtype=float))
            if X_val is not None:
                scaler, models, losses = self._path(X, y, X_val, y_val, Cs)
                self.C_ = self._pick(Cs, losses)
                # the model of the chosen C is the one a refit would give (deterministic lbfgs): kept as is
                if self.C_ in Cs:
                    fitted = scaler, models[int(np.flatnonzero(Cs == self.C_)[0])]
            else:
                losses = self._cv_losses(X, y, Cs)
                self.C_ = self._pick(Cs, losses)
        else:
            Cs = np.array([float(self.C)])
            losses = np.full(1, np.nan)
            self.C_ = float(self.C)
        self.Cs_ = Cs
        if fitted is None:
            scaler = self._scaler(X)
            fitted = scaler, self._fit_scaled(scaler.transform(X) if scaler is not None else X, y, self.C_)
        self.scaler_, self.model_ = fitted
        if X_val is not None and self.C != "auto":
            losses[0] = float(log_loss(y_val, self._proba(self.scaler_, self.model_, X_val), labels=classes))
        self.val_scores_ = losses
        self.classes_ = self.model_.classes_
        self.n_iter_ = self.model_.n_iter_
        return self

    def _transform(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self.scaler_.transform(X) if self.scaler_ is not None else X

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Logits: ``[N]`` for two classes (positive = ``classes_[1]``), ``[N, K]`` otherwise."""
        Xs = self._transform(X)
        return self.model_.decision_function(Xs)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``[N, K]``, columns ordered as ``classes_``."""
        Xs = self._transform(X)
        return self.model_.predict_proba(Xs)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Most probable class label per sample."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
