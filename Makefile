# Deep Learning for Medical Image Analysis: set-up, lab and tests.
#   make lab    create .venv if absent, install the course, open JupyterLab (127.0.0.1, token) on notebook 00
#   make test   same set-up, then every labkit unit test and every notebook under nbval
#   make bench  run every notebook (or NOTEBOOKS="notebooks/05_*.ipynb"), report wall time and peak memory
#   make seeds  run every notebook (or NOTEBOOKS=...) with LABKIT_SEED=1, 2, 3: do the lessons' claims hold?
#   make test-newest  the tests on the newest release of every dependency (no constraints), in .venv-newest
#   make student      student/: every notebook without its solutions (to hand out)
#   make grade SUBMISSIONS=folder   run submitted notebooks, collect the checkers' verdicts (folder/grades.csv)
#   make site         build/site/html: the static site (notebooks executed once, search, figures, data cards)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
NOTEBOOKS ?=
NEWEST := .venv-newest
TEST_ARGS := -n 2 --dist loadfile --nbval-lax --nbval-current-env --nbval-cell-timeout=600 tests notebooks
# JupyterLab without its news prompt and update check (a course should not pop up a question on first start).
NO_NEWS := "@jupyterlab/apputils-extension:announcements"

SUBMISSIONS ?= submissions

.PHONY: lab test test-newest bench seeds student grade site venv nav clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[lab,test,site]"
	$(VENV)/bin/jupyter labextension disable --level=sys_prefix $(NO_NEWS) >/dev/null 2>&1
	touch $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 $(ROOT_FLAG) --LabApp.default_url=/lab/tree/notebooks/00_welcome.ipynb \
		--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate

test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest $(TEST_ARGS)

test-newest:
	rm -rf $(NEWEST) && $(PYTHON) -m venv $(NEWEST)
	$(NEWEST)/bin/python -m pip install --quiet --upgrade pip
	$(NEWEST)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[lab,test]"
	$(NEWEST)/bin/jupyter labextension disable --level=sys_prefix $(NO_NEWS) >/dev/null 2>&1
	$(NEWEST)/bin/python -m pip freeze --exclude-editable > $(NEWEST)/versions.txt
	OMP_NUM_THREADS=1 $(NEWEST)/bin/python -m pytest $(TEST_ARGS)

bench: $(STAMP)
	$(PY) tools/bench.py $(NOTEBOOKS)

seeds: $(STAMP)
	$(PY) tools/seeds.py $(NOTEBOOKS)

student: $(STAMP)
	$(PY) tools/student.py

grade: $(STAMP)
	$(PY) tools/grade.py $(SUBMISSIONS)

site: $(STAMP)
	$(PY) tools/site.py

nav: $(STAMP)
	$(PY) tools/course.py
	$(PY) tools/instructors.py

clean:
	rm -rf $(VENV) $(NEWEST) .cache bench build student
