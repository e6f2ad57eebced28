# make demo: set up, then run the main job end to end on the mirrored data.
# make test: set up, then run the tests (offline; installs Chromium, PostgreSQL and Java 17
#            from Debian's packages when missing, for the browser, store and Spark tests).
# The virtual environment is rebuilt only when pyproject.toml changes.

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# snscrape (GPL-3.0, optional for users) is installed for the tests of its Telegram source.
EXTRAS := dev,serve,onnx,encoder,snscrape,postgres,spark

# The shared datasets mirror, when it sits beside the checkout (CI, developers).
ifneq ($(wildcard ../shared/datasets),)
export RADAR_DATA_MIRROR ?= $(abspath ../shared/datasets)
endif
# No hub downloads at run time: every model is loaded from a local path.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1

# The dashboard's browser test drives Debian's chromium through chromium-driver.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup demo test test-fast lint clean browser postgres java

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing complaint-radar[$(EXTRAS)] into $(VENV) (first time: about 2 minutes) ..."
	@# This machine's pip config names index folders that may be absent; drop that noise only.
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]' 2>&1 \
		| { grep -v "is ignored: it is neither a file nor a directory" || true; }
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/radar demo

browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		echo "installing chromium and chromium-driver (Debian) for the dashboard's browser test ..."; \
		$(SUDO) apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
		|| { $(SUDO) apt-get update -q >/dev/null 2>&1 && \
		     $(SUDO) apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; } \
		|| echo "could not install chromium; the browser tests will skip"; \
	fi

# The store's PostgreSQL tests start their own server from Debian's postgresql package.
PG_INITDB = ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
postgres:
	@if ! $(PG_INITDB); then \
		echo "installing postgresql (Debian) for the store's PostgreSQL tests ..."; \
		$(SUDO) apt-get install -y -q postgresql >/dev/null 2>&1 \
		|| { $(SUDO) apt-get update -q >/dev/null 2>&1 && \
		     $(SUDO) apt-get install -y -q postgresql >/dev/null 2>&1; } \
		|| echo "could not install postgresql; the PostgreSQL tests will skip"; \
	fi

# Spark (radar score --engine spark) runs on a JVM: Debian's Java 17.
java:
	@if ! command -v java >/dev/null; then \
		echo "installing openjdk-17-jre-headless (Debian) for the Spark engine's tests ..."; \
		$(SUDO) apt-get install -y -q openjdk-17-jre-headless >/dev/null 2>&1 \
		|| { $(SUDO) apt-get update -q >/dev/null 2>&1 && \
		     $(SUDO) apt-get install -y -q openjdk-17-jre-headless >/dev/null 2>&1; } \
		|| echo "could not install Java 17; the Spark tests will skip"; \
	fi

# Where the server binaries (or java) are, their tests must run: a broken set-up fails,
# never skips.
test: $(STAMP) browser postgres java
	RADAR_REQUIRE_POSTGRES=$$($(PG_INITDB) && echo 1 || echo 0) \
	RADAR_REQUIRE_SPARK=$$(command -v java >/dev/null && echo 1 || echo 0) \
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser and not spark"

lint: $(STAMP)
	$(BIN)/ruff check nlp radar training tests bench serve.py

clean:
	rm -rf $(VENV) .pytest_cache
