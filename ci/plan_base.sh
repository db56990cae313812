#!/bin/sh
# The offline plan of what a merge request starts from, for `make plan BASE=base-<stack>.json`:
# the base commit checked out beside this one and planned by its own Makefile, program and
# stack file into base-<stack>.json (its output in base-<stack>.txt).
#
#   ci/plan_base.sh STACK
#
# Never fails the job: a base that cannot be planned (say, a target branch whose program
# refuses a key this one added) leaves no base-<stack>.json, and the merge-request comment
# says the stack was not compared.
set -u
stack=$1
here=$(pwd)
rm -f "base-$stack.json"

# The commit the merge request's changes are relative to: in a merged results pipeline the
# target branch's head (the checkout is the merge of the source into it), otherwise the merge
# base, the commit GitLab diffs the merge request against (the target branch may have moved
# on since). GitLab doc/ci/variables/predefined_variables.md, "Predefined variables for merge
# request pipelines": CI_MERGE_REQUEST_TARGET_BRANCH_SHA "is present only in merged results
# pipelines", CI_MERGE_REQUEST_DIFF_BASE_SHA "The base SHA of the merge request diff".
commit=${CI_MERGE_REQUEST_TARGET_BRANCH_SHA:-${CI_MERGE_REQUEST_DIFF_BASE_SHA:-}}
worktree=$(mktemp -d)

plan_base() {
    if [ -z "$commit" ]; then
        echo "no base commit: not a merge request pipeline"
        return 1
    fi
    # The job's clone is shallow (GIT_DEPTH; new projects fetch 20 commits, GitLab
    # doc/ci/pipelines/settings.md) and may not hold the base: fetch that one commit. A
    # commit can be asked for by its id: protocol v2 takes any `want` (git
    # Documentation/gitprotocol-v2.adoc, fetch: "Wants can be anything and are not limited
    # to advertised objects"), and GitLab's Gitaly runs upload-pack with
    # uploadpack.allowAnySHA1InWant=true (gitlab-org/gitaly internal/git/command_description.go).
    git fetch --quiet --depth 1 origin "$commit" || return 1
    git worktree add --quiet --detach "$worktree" FETCH_HEAD || return 1
    # The base's own requirements: the same virtualenv when they are this commit's, else one
    # of its own (installed by its Makefile), so a dependency bump shows in the comparison.
    # What installs into it (the requirements and tools/install_tools.py) compared whole; when
    # the same, the worktree's copies get this checkout's times, so that its make finds the
    # virtualenv up to date instead of installing again (a fresh checkout's files are newer
    # than the stamps).
    venv="$worktree/.venv"
    installs="requirements.txt requirements-dev.txt requirements-tools.txt tools/install_tools.py"
    same=yes
    for file in $installs; do
        cmp -s "$file" "$worktree/$file" || same=no
    done
    if [ "$same" = yes ]; then
        venv="$here/.venv"
        for file in $installs; do
            touch -r "$file" "$worktree/$file"
        done
    fi
    # VENV and CHARTS on the command line win over the base Makefile's own assignments (GNU
    # make manual, "Overriding Variables"); CHARTS, when the job names a chart cache, is the
    # one this job's own plan reads, so both render the same charts.
    make -C "$worktree" plan STACK="$stack" PLAN_JSON="$here/base-$stack.json" \
        VENV="$venv" ${CHARTS:+CHARTS="$CHARTS"}
}

if plan_base > "base-$stack.txt" 2>&1; then
    echo "base of $stack planned from $commit"
elif [ -f "base-$stack.json" ]; then
    # The plan was written, then a mandatory policy or a render failed: still a base.
    echo "base of $stack planned from $commit (its plan failed a check: base-$stack.txt)"
else
    echo "base of $stack could not be planned (base-$stack.txt says why): not compared"
fi
git worktree remove --force "$worktree" > /dev/null 2>&1
rm -rf "$worktree"
exit 0
