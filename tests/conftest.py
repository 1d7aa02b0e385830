import os
import tempfile

import matplotlib

# The exercise checkers keep a learner's progress in ~/.labkit/progress.json; tests (and the notebook kernels and
# JupyterLab they start, which inherit this environment) write to a throw-away file instead.
os.environ.setdefault("LABKIT_PROGRESS", os.path.join(tempfile.mkdtemp(prefix="labkit-progress-"), "progress.json"))

# Unit tests draw off-screen. Set here (not through MPLBACKEND) so that notebook kernels started by nbval and by
# the browser test keep Jupyter's inline backend and render figures as a learner sees them.
matplotlib.use("Agg")
