# medgen_nb: two commands on a fresh machine.
#   make lab    set up .venv on first use, write the student notebooks (student/; a notebook
#               already there is never overwritten) and open them in JupyterLab
#   make solutions  the instructor's notebooks (solutions and tests) in JupyterLab
#   make grade NB=student/02_vae/02_vae.ipynb   grade a notebook with the full autograder
#   make test   set up .venv on first use, then run the whole test suite
#   make lint   ruff, and lint-imports for the layer contracts in pyproject.toml
#
# Torch is installed first and on its own, because a bare `torch` requirement
# can pull a multi-GB CUDA build.  Override to taste:
#   make test TORCH_SPEC="torch==2.5.1" TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX_URL ?=
PYTEST_ARGS ?=
STAMP := $(VENV)/.medgen_nb-installed

.PHONY: setup lab solutions grade course test lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL)) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[lab,test]"
	@touch $@

lab: $(STAMP)
	$(BIN)/python -m medgen_nb.grading student --dest student
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) student/

solutions: $(STAMP)
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

grade: $(STAMP)
	$(BIN)/python -m medgen_nb.grading grade $(NB)

course: $(STAMP)
	$(BIN)/python -m medgen_nb.course --out build

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check medgen_nb tests benchmarks data_scripts
	$(BIN)/ruff format --check medgen_nb tests benchmarks data_scripts
	$(BIN)/lint-imports

clean:
	rm -rf build .pytest_cache
