"""Recordings: crash-safe HLS directories, recovery, the library, MP4 download by remux.

Entry points: :class:`recordings.storage.LocalStorage`, :func:`recordings.recovery.recover`
(at start-up), :mod:`recordings.library`, :func:`recordings.http.mp4_response`.
"""
