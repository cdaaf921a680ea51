"""Motion between frames: flow and :class:`Motion` (leaf), the tracker, scene cuts; the flicker metric apart."""
