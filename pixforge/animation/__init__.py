"""Time in a render: schedules, scenes, frame-by-frame animation and video stylisation.

Kept free of imports so that the low floors (prompt parsing, settings) can use ``animation.schedules`` and
``animation.scenes`` without pulling in the pipeline; ``pixforge.animate`` and ``pixforge.stylize`` are
exposed from the package face.
"""
