# The two commands of the README: `make book` (set up, run the headline experiment, build the book)
# and `make test` (the tests, notebook validation and the strict book build; what CI runs).
PY      ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
NOTEBOOKS := $(wildcard book/*.ipynb)

.PHONY: book install headline html test system-packages lint unit nbval nbval-portable book-strict browser course student pdf notebooks sync bench bench-quick clean

book: install headline html
	@echo "Open the book: file://$(CURDIR)/_build/html/index.html"

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r requirements.txt
	$(VPY) -m pip install -q --no-deps -e .
	$(VPY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# The headline experiment: the Markov chain at book scale.
headline: install
	$(VPY) -m causal_tutorial run chain --scale book --seed 0 --out runs

html: install
	env -u MPLBACKEND $(VENV)/bin/jupyter-book build . -W -n --keep-going

# system-packages first: Chromium, ChromeDriver and XeLaTeX, installed when missing (as root or with sudo; where it
# cannot, it stops at once naming the packages and the command that installs them).
test: install system-packages lint unit nbval nbval-portable book-strict course student browser pdf

system-packages:
	bash scripts/install_system_packages.sh

# ruff (lint and format check) on the package, tests, benchmarks and scripts; mypy on the package.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

unit: install
	$(VPY) -m pytest -q tests

nbval: install
ifneq ($(NOTEBOOKS),)
	env -u MPLBACKEND CI=1 OMP_NUM_THREADS=1 $(VPY) -m pytest -q -p no:cacheprovider --nbval --nbval-current-env \
	  --nbval-sanitize-with book/sanitize.cfg $(NOTEBOOKS)
endif

# The notebooks again on another floating-point path: torch's kernels without SIMD (ATEN_CPU_CAPABILITY=default)
# on two threads. Digits printed from a training run differ between CPUs; such cells carry the tag
# nbval-ignore-output and assert their claims with a tolerance (the rule: book/sanitize.cfg's header), so both
# runs must pass on any machine.
nbval-portable: install
ifneq ($(NOTEBOOKS),)
	env -u MPLBACKEND CI=1 ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=2 $(VPY) -m pytest -q -p no:cacheprovider --nbval \
	  --nbval-current-env --nbval-sanitize-with book/sanitize.cfg $(NOTEBOOKS)
endif

book-strict: install
	rm -rf _build
	env -u MPLBACKEND $(VENV)/bin/jupyter-book build . -W -n --keep-going

# The built book in headless Chromium, offline, page by page (needs Debian's chromium: scripts/install_system_packages.sh);
# screenshots of every page's first screen land in _build/screenshots/.
browser: install
	test -f _build/html/index.html || $(MAKE) html
	$(VPY) scripts/check_site.py --site _build/html --out _build/screenshots
	test -f _build/student/html/index.html || $(MAKE) student
	$(VPY) scripts/check_site.py --site _build/student/html --out _build/student/screenshots \
	  --config _build/student/src/_config.yml --no-colab

# The course kit (nbgrader): one assignment per chapter in _build/course/ (source/, release/ made by
# `nbgrader generate_assignment`, gradebook.db, nbgrader_config.py) and the autograder, _build/course/autograder.zip;
# fails when solution text is left in a release notebook. The grading itself is tested in tests/test_course.py.
course: install
	env -u MPLBACKEND $(VPY) scripts/make_course.py --out _build/course

# The student edition, built from the course's release notebooks (no second mechanism): the HTML in
# _build/student/html, the notebooks in _build/student/notebooks; checked for leaks.
student: course
	env -u MPLBACKEND $(VPY) scripts/make_student.py --out _build/student --course _build/course

# The book as a PDF with XeLaTeX (Debian's packages: scripts/install_system_packages.sh): _build/latex/book.pdf.
pdf: install
	env -u MPLBACKEND $(VENV)/bin/jupyter-book build . --builder pdflatex
	@echo "The PDF: $(CURDIR)/_build/latex/book.pdf"

# For authors: re-execute every chapter (or NB=book/03_....ipynb) in place at book scale, storing fresh outputs.
notebooks: install
	env -u MPLBACKEND CI=1 OMP_NUM_THREADS=1 $(VPY) scripts/execute_notebooks.py $(NB)

sync: install
	$(VENV)/bin/jupytext --sync book/*.ipynb

bench: install
	$(VPY) benchmarks/run.py

bench-quick: install
	$(VPY) benchmarks/run.py --quick

clean:
	rm -rf _build runs .pytest_cache
