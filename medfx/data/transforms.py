"""Image reading, intensity scaling and spatial resizing, shared by the in-memory and the lazy datasets.

Every function works on channel-first tensors of any spatial rank. The batched functions treat the
leading axis as independent images, so an ``.npz`` split is preprocessed in a few vectorised calls
and gives exactly what the per-file path gives for the same pixels.
"""

from __future__ import annotations

import functools
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

IMAGE_2D_SUFFIXES = (".png", ".jpg", ".jpeg", ".dcm")
VOLUME_SUFFIXES = (".nii", ".nii.gz")
_GREY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma
_AXIS_LABELS = (("L", "R"), ("P", "A"), ("I", "S"))  # nibabel's axis-code convention


def file_suffix(path: Path | str) -> str:
    """Lower-case suffix, with ``.nii.gz`` kept whole."""
    name = Path(path).name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


def rgb_to_grey(x: np.ndarray) -> np.ndarray:
    """Channel-last RGB or RGBA ``[..., 3|4]`` to grey ``[...]`` (alpha is ignored)."""
    w = np.asarray(_GREY_WEIGHTS, dtype=np.float32)
    return x[..., :3].astype(np.float32) @ w


def _as_tensor(x: torch.Tensor) -> torch.Tensor:
    """Plain ``torch.Tensor`` (drops MONAI metadata)."""
    return x.as_tensor() if hasattr(x, "as_tensor") else x


# ----------------------------------------------------------------------------------------------
# Reading one file into a [1, *spatial] float32 tensor


def _read_pil(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        if img.mode in ("L", "I", "I;16", "I;16B", "I;16L", "F"):
            return np.asarray(img, dtype=np.float32)
        return rgb_to_grey(np.asarray(img.convert("RGB")))


def _read_dicom(path: Path) -> np.ndarray:
    import pydicom

    ds = pydicom.dcmread(path)
    arr = ds.pixel_array.astype(np.float32)
    if int(getattr(ds, "SamplesPerPixel", 1)) > 1:
        arr = rgb_to_grey(arr)
    else:
        arr = arr * float(getattr(ds, "RescaleSlope", 1.0)) + float(getattr(ds, "RescaleIntercept", 0.0))
        if str(getattr(ds, "PhotometricInterpretation", "")) == "MONOCHROME1":
            arr = arr.max() - arr  # MONOCHROME1 shows low values as white
    return arr


@functools.lru_cache(maxsize=1)
def _nifti_loader():
    """One MONAI ``LoadImage`` per process (it instantiates every reader, which is slow and noisy)."""
    from monai.transforms import LoadImage

    # MONAI's optional GPU DICOM decoder warns (via warnings and logging) when it is not installed.
    plugin_log = logging.getLogger("monai.data.nvimgcodec_pydicom_plugin")
    level = plugin_log.level
    plugin_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return LoadImage(
                image_only=True, ensure_channel_first=True, reader="NibabelReader", dtype=np.float32
            )
    finally:
        plugin_log.setLevel(level)


def _read_nifti(path: Path, orientation: str | None, spacing: tuple[float, ...] | None) -> torch.Tensor:
    from monai.transforms import Orientation, Spacing

    img = _nifti_loader()(str(path))
    if img.shape[0] != 1:
        raise ValueError(f"expected a single-channel volume, got {img.shape[0]} channels")
    if orientation is not None:
        img = Orientation(axcodes=orientation, labels=_AXIS_LABELS)(img)
    if spacing is not None:
        img = Spacing(pixdim=spacing, mode="bilinear")(img)
    return _as_tensor(img).float()


def read_image(
    path: Path | str, orientation: str | None = None, spacing: tuple[float, ...] | None = None
) -> torch.Tensor:
    """Read a PNG/JPEG/DICOM image or a NIfTI volume as one grey channel, ``[1, *spatial]`` float32.

    2D images are read with Pillow / pydicom in ``(H, W)`` order, matching MedMNIST arrays (MONAI's
    Pillow reader would transpose them); NIfTI goes through MONAI ``LoadImage`` and the optional
    ``Orientation`` / ``Spacing`` transforms, which only apply to volumes.
    """
    path = Path(path)
    suffix = file_suffix(path)
    if suffix in VOLUME_SUFFIXES:
        return _read_nifti(path, orientation, spacing)
    arr = _read_dicom(path) if suffix == ".dcm" else _read_pil(path)
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))[None]


def read_header_shape(path: Path | str, orientation: str | None = None) -> tuple[int, ...]:
    """Spatial shape of a file from its header only (after ``orientation`` for volumes)."""
    path = Path(path)
    suffix = file_suffix(path)
    if suffix in VOLUME_SUFFIXES:
        import nibabel as nib

        img = nib.load(str(path))
        shape = tuple(int(s) for s in img.shape)
        while len(shape) > 3 and shape[-1] == 1:  # (X, Y, Z, 1) is still a volume
            shape = shape[:-1]
        if orientation is not None and len(shape) == 3:
            from nibabel import orientations as ornt

            change = ornt.ornt_transform(ornt.io_orientation(img.affine), ornt.axcodes2ornt(orientation))
            shape = tuple(shape[int(i)] for i in np.argsort(change[:, 0]))
        return shape
    if suffix == ".dcm":
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if "Rows" not in ds or "Columns" not in ds:
            from medfx.utils.errors import DataError

            kind = getattr(ds, "Modality", None) or getattr(getattr(ds, "SOPClassUID", None), "name", None) or "?"
            raise DataError(f"{path}: not an image: the DICOM file has no pixel data (Rows/Columns missing; "
                            f"modality/SOP class {kind})")
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
        hw = (int(ds.Rows), int(ds.Columns))
        return (frames, *hw) if frames > 1 else hw
    from PIL import Image

    with Image.open(path) as img:
        img.verify()  # cheap integrity check of the header and, for PNG, the chunk checksums
        w, h = img.size
    return (h, w)


# ----------------------------------------------------------------------------------------------
# Intensity


def scale_intensity(
    x: torch.Tensor,
    mode: str = "minmax",
    percentiles: tuple[float, ...] = (0.5, 99.5),
    out_range: tuple[float, ...] = (-1.0, 1.0),
) -> torch.Tensor:
    """Scale each image of a batch ``[B, *rest]`` on its own to ``out_range``.

    ``minmax`` maps the image minimum and maximum to the range ends; ``percentile`` maps the given
    percentiles and clips (as MONAI ``ScaleIntensityRangePercentiles(clip=True)``). A constant image
    maps to the lower end.
    """
    lo_out, hi_out = float(out_range[0]), float(out_range[1])
    flat = x.float().flatten(1)
    if mode == "minmax":
        lo, hi = flat.amin(dim=1), flat.amax(dim=1)
    elif mode == "percentile":
        q = np.percentile(flat.cpu().numpy(), list(percentiles), axis=1)  # [2, B]
        lo = torch.as_tensor(q[0], dtype=torch.float32, device=x.device)
        hi = torch.as_tensor(q[1], dtype=torch.float32, device=x.device)
    else:
        raise ValueError(f"unknown intensity mode {mode!r}")
    span = (hi - lo)[:, None]
    t = torch.where(span > 0, (flat - lo[:, None]) / span.clamp_min(1e-12), torch.zeros_like(flat))
    out = lo_out + t * (hi_out - lo_out)  # t = 1 at the maximum gives hi_out exactly
    return out.clamp(lo_out, hi_out).view_as(x)


# ----------------------------------------------------------------------------------------------
# Spatial size


def resize_batch(
    x: torch.Tensor, size: tuple[int, ...], mode: str = "resize", fill: float = 0.0
) -> torch.Tensor:
    """Resize a batch of single-channel images ``[B, *spatial]`` to ``size``.

    ``resize`` interpolates (bilinear / trilinear, anti-aliased when shrinking, MONAI ``Resize``);
    ``crop_pad`` centre-crops or pads with ``fill`` (MONAI ``ResizeWithPadOrCrop``). The batch axis is
    passed to MONAI as channels, so per-image and batched calls agree.
    """
    from monai.transforms import Resize, ResizeWithPadOrCrop

    size = tuple(int(s) for s in size)
    if tuple(x.shape[1:]) == size:
        return x
    if len(size) != x.ndim - 1:
        raise ValueError(f"cannot resize {x.ndim - 1}D images to size {size}")
    if mode == "resize":
        interp = "bilinear" if len(size) == 2 else "trilinear"
        out = Resize(spatial_size=size, mode=interp, anti_aliasing=True)(x)
    elif mode == "crop_pad":
        out = ResizeWithPadOrCrop(spatial_size=size, mode="constant", value=fill)(x)
    else:
        raise ValueError(f"unknown resize mode {mode!r}")
    return _as_tensor(out).float().contiguous()


def preprocess_batch(
    x: torch.Tensor,
    size: tuple[int, ...] | None,
    resize_mode: str,
    intensity: str,
    percentiles: tuple[float, ...],
    out_range: tuple[float, ...],
) -> torch.Tensor:
    """Raw ``[B, *spatial]`` -> ``[B, *size]`` float32 in ``out_range``.

    With ``resize`` the images are interpolated first and then scaled, so each image spans the
    range; with ``crop_pad`` they are scaled first and padded with the lower end of the range.
    """
    if size is not None and resize_mode == "resize":
        x = resize_batch(x.float(), size, resize_mode)
    x = scale_intensity(x, intensity, percentiles, out_range)
    if size is not None and resize_mode == "crop_pad":
        x = resize_batch(x, size, resize_mode, fill=float(out_range[0]))
    return x
