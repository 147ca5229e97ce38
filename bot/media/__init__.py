"""Video processing for the chat side, tested without Discord: last frames, clips that fit, stitched chains.

`last_frame(path) -> PNG bytes`, `fit(path, max_bytes, work_dir=...) -> path` and
`stitch(paths, work_dir=...) -> path` are plain blocking functions that stream from disk; `VideoWorker` runs them
off the event loop in a bounded pool with a time limit. Failures are this package's own errors (`NotPlayable`,
`CannotFit`, `VideoTimeout`), never FFmpeg's.
"""

from bot.media.deadline import Deadline
from bot.media.errors import CannotFit, MediaError, NotPlayable, VideoTimeout
from bot.media.fitting import fit
from bot.media.frames import last_frame
from bot.media.pool import VideoWorker
from bot.media.stitching import stitch

__all__ = [
    "CannotFit",
    "Deadline",
    "MediaError",
    "NotPlayable",
    "VideoTimeout",
    "VideoWorker",
    "fit",
    "last_frame",
    "stitch",
]
