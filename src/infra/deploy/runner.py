"""One stack through a change set: get it ready, plan (diff), execute with live events, or discard.

Used for the root stack, the us-east-1 global stack and the bootstrap stack alike.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from infra.command import stop_code, stop_name
from infra.deploy import changeset, release
from infra.deploy.changeset import collect
from infra.deploy.resource_diff import (Diff, LocalFallback, Templates, deployed_template, enrich, local_plan,
                                        value_changes)
from infra.deploy.events import EventStream, WaitTimeout, make_sink
from infra.deploy.rootcause import RootCause, api_events_getter, explain_failure, find_root_cause
from infra.deploy.session import Aws, aws_exceptions, error_code, error_message, is_not_implemented
from infra.deploy.stack_state import CREATE, FAILED_CREATE, RECREATE, REFUSE, UPDATE, WAIT, StackInfo, decide
from infra.deploy.stacks import describe_stack
from infra.deploy.ui import Ui
from infra.errors import DeployError

SUCCESS = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
IMPORT = "IMPORT"


@dataclass
class StackSpec:
    """What we want a stack to be."""

    name: str
    template: dict[str, Any]                  # as deployed (child URLs resolved), for comparison
    parameters: dict[str, str]
    tags: dict[str, str]
    template_url: str | None = None
    template_body: str | None = None
    children: dict[str, Path] = field(default_factory=dict)   # for the local diff fallback
    secret_parameters: frozenset[str] = frozenset()          # NoEcho parameters: values never shown
    expected: dict[str, int] = field(default_factory=dict)    # resources per stack label (live view)
    releases: dict[str, Any] = field(default_factory=dict)    # manifest.json "releases" (gradual functions)


@dataclass
class Plan:
    spec: StackSpec
    info: StackInfo | None
    kind: str = UPDATE
    change_set: changeset.ChangeSet | None = None
    diff: Diff | None = None
    no_changes: bool = False
    placeholder_note: str = ""


class Cancelled(DeployError):
    """The operation was cancelled (Ctrl-C or --timeout) and rolled back."""


class DeleteFailed(DeployError):
    """A stack deletion ended in another status than DELETE_COMPLETE (typically DELETE_FAILED)."""

    def __init__(self, message: str, *, status: str, cause: RootCause | None):
        super().__init__(message)
        self.status = status
        self.cause = cause


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "no limit"
    if seconds < 120:
        return f"{seconds:g} s"
    return f"{seconds / 60:g} min"


class StackRunner:
    def __init__(self, aws: Aws, ui: Ui, spec: StackSpec, *, change_set_name: str,
                 timeout: float | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.aws, self.ui, self.spec = aws, ui, spec
        self.cfn = aws.client("cloudformation")
        self.change_set_name = change_set_name
        self.timeout = timeout
        self.sleep, self.clock = sleep, clock
        self.fast = bool(aws.endpoint_url)

    # -- readiness ------------------------------------------------------------------------------
    def ready(self, *, recreate_failed: bool, read_only: bool) -> StackInfo | None:
        """Bring the stack to a state a change set can be made for; its info (None: to create)."""
        for _ in range(5):
            info = describe_stack(self.cfn, self.spec.name)
            decision = decide(info, recreate_failed=recreate_failed, read_only=read_only)
            if decision.action in (CREATE, UPDATE):
                return info
            assert info is not None
            if decision.action == WAIT:
                self.ui.note(decision.message)
                self.wait_idle(info)
                continue
            if decision.action == RECREATE:
                self.ui.note(decision.message)
                self.delete_and_wait(info, purpose="recreate")
                continue
            assert decision.action == REFUSE
            message = decision.message
            if info.status in FAILED_CREATE or info.status.endswith("_FAILED"):
                cause = explain_failure(self.cfn, info.stack_id, info.name)
                if cause:
                    message += f" Root cause of the failure: {cause.sentence()}."
            raise DeployError(message)
        raise DeployError(f"{self.spec.name} kept changing state while we waited; run the command again.")

    def _stream(self, stack_id: str, on_poll: Callable[[], None] | None = None) -> EventStream:
        return EventStream(self.cfn, stack_id, self.spec.name, make_sink(self.ui, self.spec.expected),
                           fast=self.fast, sleep=self.sleep, clock=self.clock, on_poll=on_poll)

    def wait_idle(self, info: StackInfo) -> None:
        stream = self._stream(info.stack_id)
        stream.prime()
        try:
            with stream.sink:
                stream.wait_until_idle(self.timeout)
        except WaitTimeout:
            raise DeployError(
                f"{info.name} is still busy ({info.status}) after {format_duration(self.timeout)}; "
                "another deploy or a rollback is running. Wait for it to finish (or raise --timeout) "
                "and run the command again.") from None
        except KeyboardInterrupt as stop:
            raise DeployError(f"Stopped waiting for {info.name} ({info.status}); nothing was changed.",
                              exit_code=stop_code(stop)) from None

    def delete_and_wait(self, info: StackInfo, *, purpose: str) -> str:
        """Delete a stack and follow it to the end; the final status (DELETE_COMPLETE on success)."""
        stream = self._stream(info.stack_id)
        stream.prime()
        token = f"serverless-infra-{uuid.uuid4()}"
        try:
            self.cfn.delete_stack(StackName=info.stack_id, ClientRequestToken=token)
        except KeyboardInterrupt as stop:   # while DeleteStack was in flight: did it reach CloudFormation?
            now = describe_stack(self.cfn, info.stack_id)
            if now is not None and now.status not in ("DELETE_IN_PROGRESS", "DELETE_COMPLETE"):
                raise DeployError(f"Interrupted ({stop_name(stop)}) before CloudFormation started deleting "
                                  f"{info.name}: it was not deleted.", exit_code=stop_code(stop)) from None
            raise DeployError(f"Stopped waiting: the deletion of {info.name} continues in CloudFormation.",
                              exit_code=stop_code(stop)) from None
        try:
            with stream.sink:
                status = stream.wait_for_operation(self.timeout)
        except WaitTimeout:
            raise DeployError(f"{info.name} was not deleted within {format_duration(self.timeout)}; "
                              "the deletion continues in CloudFormation.") from None
        except KeyboardInterrupt as stop:
            raise DeployError(f"Stopped waiting: the deletion of {info.name} continues in CloudFormation.",
                              exit_code=stop_code(stop)) from None
        if status != "DELETE_COMPLETE":
            cause = find_root_cause(api_events_getter(self.cfn), info.stack_id, info.name, stream.cutoff)
            detail = f" Root cause: {cause.sentence()}." if cause else ""
            action = "delete it before recreating" if purpose == "recreate" else "delete it"
            raise DeleteFailed(f"Could not {action}: {info.name} ended in {status}.{detail}",
                               status=status, cause=cause)
        return status

    def continue_rollback(self, info: StackInfo, skip: list[str]) -> str:
        """ContinueUpdateRollback on a root stuck in UPDATE_ROLLBACK_FAILED (never on a nested stack:
        CloudFormation takes the root and rolls its nested stacks back too), followed to the end;
        the final status (UPDATE_ROLLBACK_COMPLETE on success)."""
        stream = self._stream(info.stack_id)
        stream.prime(include_nested=True)
        token = f"serverless-infra-{uuid.uuid4()}"
        self.cfn.continue_update_rollback(StackName=info.stack_id, ResourcesToSkip=skip, ClientRequestToken=token)
        try:
            with stream.sink:
                return stream.wait_for_operation(self.timeout)
        except WaitTimeout:
            raise DeployError(f"The rollback of {info.name} did not finish within {format_duration(self.timeout)}; "
                              "it continues in CloudFormation.") from None
        except KeyboardInterrupt as stop:
            raise DeployError(f"Stopped waiting: the rollback of {info.name} continues in CloudFormation.",
                              exit_code=stop_code(stop)) from None

    # -- planning --------------------------------------------------------------------------------
    def unchanged(self, info: StackInfo) -> bool:
        """Template, parameters and tags all equal to what is deployed (no change set needed)."""
        if any(info.parameters.get(k) != v for k, v in self.spec.parameters.items()):
            return False
        if info.tags != self.spec.tags:
            return False
        return deployed_template(self.cfn, info.stack_id) == self.spec.template

    def plan(self, *, recreate_failed: bool = False, read_only: bool = False) -> Plan:
        info = self.ready(recreate_failed=recreate_failed, read_only=read_only)
        plan = Plan(self.spec, info, kind=UPDATE if info else CREATE)
        if info is not None and self.unchanged(info):
            plan.no_changes = True
            return plan
        self._clear_stale()
        try:
            plan.change_set = changeset.create(
                self.cfn, stack=self.spec.name, kind=plan.kind, name=changeset.run_name(self.change_set_name),
                parameters=self.spec.parameters, tags=self.spec.tags,
                template_url=self.spec.template_url, template_body=self.spec.template_body,
                sleep=self.sleep, clock=self.clock)
        except changeset.NoChanges:
            plan.no_changes = True
            return plan
        except BaseException:
            if plan.kind == CREATE:
                self._delete_review_stack()
            raise
        templates = self.templates(info)
        plan.diff = collect(self.cfn, plan.change_set.changes, self.spec.name, LocalFallback(templates))
        self._describe(plan, templates)
        return plan

    def _clear_stale(self) -> None:
        """Delete what killed runs left; say when another run is reviewing a plan for this stack."""
        stale = changeset.delete_stale(self.cfn, self.spec.name, self.change_set_name)
        if stale.waiting:
            minutes = max(1, round(min(stale.waiting) / 60))
            self.ui.note(f"Another run is reviewing a change set for {self.spec.name} (made {minutes} min ago). "
                         "Whichever executes first voids the other's plan, and that one then stops, changing nothing.")

    def templates(self, info: StackInfo | None) -> Templates:
        return Templates(self.cfn, self.spec.name, info.stack_id if info else None, self.spec.template,
                         self.spec.children)

    def _describe(self, plan: Plan, templates: Templates) -> None:
        """Values, outputs, IAM and security group changes, parameters and tags of a planned diff."""
        assert plan.diff is not None
        info = plan.info
        enrich(plan.diff, templates)
        deployed = info.parameters if info else {}
        deployed_params = {k: deployed[k] for k in self.spec.parameters if k in deployed}
        plan.diff.parameters = value_changes(deployed_params, self.spec.parameters, secret=self.spec.secret_parameters)
        plan.diff.tags = value_changes(info.tags if info else {}, self.spec.tags)

    def plan_locally(self) -> Plan:
        """A plan from templates alone (no change set, nothing written): what `diff` shows for a
        stack that does not exist yet, or when there is no artifact bucket to create a change set."""
        info = describe_stack(self.cfn, self.spec.name)
        if info is not None and info.status == "REVIEW_IN_PROGRESS":
            info = None   # holds nothing (a change set never executed)
        plan = Plan(self.spec, info, kind=UPDATE if info else CREATE)
        templates = self.templates(info)
        plan.diff = local_plan(templates)
        plan.diff.notes.append(f"{self.spec.name}: computed from the templates (no change set was created).")
        self._describe(plan, templates)
        plan.no_changes = plan.diff.empty
        return plan

    def plan_import(self, resources: list[dict[str, Any]]) -> Plan:
        """An IMPORT change set that adopts existing resources into the stack (creating the stack
        when it does not exist); nothing else may change in the same operation."""
        info = self.ready(recreate_failed=False, read_only=False)
        plan = Plan(self.spec, info, kind=IMPORT)
        self._clear_stale()
        try:
            plan.change_set = changeset.create(
                self.cfn, stack=self.spec.name, kind=IMPORT, name=changeset.run_name(self.change_set_name),
                parameters=self.spec.parameters, tags=self.spec.tags, template_url=self.spec.template_url,
                template_body=self.spec.template_body, sleep=self.sleep, clock=self.clock,
                resources_to_import=resources)
        except BaseException:
            if info is None:
                self._delete_review_stack()
            raise
        return plan

    def run_import(self, resources: list[dict[str, Any]]) -> StackInfo:
        """Plan and execute an IMPORT of `resources`; the change set never outlives the call."""
        plan = self.plan_import(resources)
        try:
            return self.execute(plan)
        finally:
            self.discard(plan)

    def discard(self, plan: Plan) -> None:
        """Remove an unexecuted change set and, for a create, the empty stack it made."""
        if plan.change_set is None or plan.change_set.executed:
            return
        changeset.delete(self.cfn, plan.change_set)
        if plan.kind == CREATE or (plan.kind == IMPORT and plan.info is None):
            self._delete_review_stack()

    def _delete_review_stack(self) -> None:
        try:
            info = describe_stack(self.cfn, self.spec.name)
            if info is not None and info.status == "REVIEW_IN_PROGRESS":
                self.cfn.delete_stack(StackName=info.stack_id)
        except aws_exceptions():
            pass

    # -- execution -------------------------------------------------------------------------------
    def execute(self, plan: Plan) -> StackInfo:
        """Execute the plan's change set and follow it; the stack after success, else DeployError."""
        cs = plan.change_set
        assert cs is not None
        releases = release.watch(self.aws, self.ui.say, self.spec.releases, plan.diff.rows if plan.diff else [],
                                 datetime.now(timezone.utc), fast=self.fast, clock=self.clock)
        stream = self._stream(cs.stack_id, releases.poll if releases else None)
        stream.prime(include_nested=plan.kind == UPDATE)
        token = f"serverless-infra-{uuid.uuid4()}"
        started = datetime.now()
        with stream.sink:
            try:
                changeset.execute(self.cfn, cs, token)
            except aws_exceptions() as exc:
                self._execute_failed(cs, stream, error_message(exc))
            except KeyboardInterrupt as stop:
                # Stopped while ExecuteChangeSet was in flight: it may or may not have reached CloudFormation.
                if not self._executed(cs, stop):
                    raise DeployError(f"Interrupted ({stop_name(stop)}) before CloudFormation executed the change "
                                      f"set: {self.spec.name} was not changed.", exit_code=stop_code(stop)) from None
                status = self._cancel(plan, cs, stream, stop)
            else:
                try:
                    status = stream.wait_for_operation(self.timeout)
                except (KeyboardInterrupt, WaitTimeout) as why:
                    status = self._cancel(plan, cs, stream, why)
        elapsed = (datetime.now() - started).total_seconds()
        if status not in SUCCESS:
            cause = find_root_cause(api_events_getter(self.cfn), cs.stack_id, self.spec.name, stream.cutoff)
            raise DeployError(self._failure_text(plan, status, cause, release.failure_text(releases)))
        self.ui.success(f"{self.spec.name}: {status} in {elapsed:.0f} s.")
        info = describe_stack(self.cfn, cs.stack_id)
        assert info is not None
        return info

    def _failure_text(self, plan: Plan, status: str, cause: RootCause | None, released: str = "") -> str:
        verb = {CREATE: "Creation", IMPORT: "Import"}.get(plan.kind, "Update")
        text = f"{verb} of {self.spec.name} failed ({status})."
        if released:  # a release CodeDeploy rolled back: the alarm that fired says more than the alias event
            text += f" Root cause: {released}"
        elif cause is not None:
            text += f" Root cause: {cause.sentence()}."
        else:
            text += " CloudFormation reported no failed resource; see the stack's events in the console."
        if plan.kind == CREATE and status == "ROLLBACK_COMPLETE":
            text += " The stack is now in ROLLBACK_COMPLETE: fix the cause and deploy again with --recreate-failed."
        return text

    def _executed(self, cs: changeset.ChangeSet, stop: BaseException) -> bool:
        """Whether CloudFormation took the change set for execution. One it no longer has was never
        executed: another run executed its own first (CloudFormation then deletes the stack's
        other change sets), and the update running now, if any, is that run's, never to cancel."""
        try:
            answer = self.cfn.describe_change_set(ChangeSetName=cs.arn, StackName=cs.stack_id)
        except aws_exceptions() as exc:
            if "does not exist" in error_message(exc) or error_code(exc) == "ChangeSetNotFound":
                return False
            raise DeployError(f"Interrupted while CloudFormation was asked to execute the change set for "
                              f"{self.spec.name}, and whether it did could not be read "
                              f"({error_message(exc).rstrip('.')}): see the stack's events before running again.",
                              exit_code=stop_code(stop)) from None
        return answer.get("ExecutionStatus") in ("EXECUTE_IN_PROGRESS", "EXECUTE_COMPLETE", "EXECUTE_FAILED")

    def _execute_failed(self, cs: changeset.ChangeSet, stream: EventStream, message: str) -> None:
        """ExecuteChangeSet itself failed (AWS: bad state or token; emulators: a resource failed)."""
        cause = None
        try:  # best effort: show what happened and look for a failed resource
            stream.finish()
            cause = find_root_cause(api_events_getter(self.cfn), cs.stack_id, self.spec.name, stream.cutoff)
        except aws_exceptions():
            pass
        if "does not exist" in message or "ChangeSetNotFound" in message:
            raise DeployError(f"The change set for {self.spec.name} is gone: another run executed its own on "
                              f"{self.spec.name} while this one waited (CloudFormation then deletes every other "
                              "change set of the stack). This run changed nothing: run it again to plan from what "
                              "is deployed now.")
        text = f"CloudFormation could not execute the change set for {self.spec.name}: {message.rstrip('.')}."
        if cause is not None:
            text += f" Root cause: {cause.sentence()}."
        raise DeployError(text)

    def _cancel(self, plan: Plan, cs: changeset.ChangeSet, stream: EventStream, why: BaseException) -> str:
        interrupted = isinstance(why, KeyboardInterrupt)
        reason = f"Interrupted ({stop_name(why)})" if interrupted else f"--timeout of {format_duration(self.timeout)} reached"
        code = stop_code(why) if interrupted else 1
        name = self.spec.name
        if plan.kind in (CREATE, IMPORT):
            raise DeployError(
                f"{reason}: the {'creation' if plan.kind == CREATE else 'import'} of {name} cannot be cancelled and "
                "continues in CloudFormation (it rolls back by itself if it fails); run destroy to remove it.",
                exit_code=code)
        self.ui.warn(f"{reason}: cancelling the update of {name} (CancelUpdateStack) and waiting for the rollback.")
        try:
            self.cfn.cancel_update_stack(StackName=cs.stack_id)
        except aws_exceptions() as exc:
            if is_not_implemented(exc):
                raise DeployError(f"{reason}, but the endpoint does not implement CancelUpdateStack: "
                                  f"the update of {name} continues.", exit_code=code) from None
            # Typically: the update already finished or is already rolling back. Follow it.
            self.ui.note(f"CancelUpdateStack: {error_message(exc)}")
        try:
            status = stream.wait_until_idle(None)
        except KeyboardInterrupt as stop:
            raise DeployError(f"Stopped waiting: the rollback of {name} continues in CloudFormation.",
                              exit_code=stop_code(stop)) from None
        if status in SUCCESS:
            return status  # finished before the cancel could take effect
        if status == "UPDATE_ROLLBACK_COMPLETE":
            raise Cancelled(f"{reason}: the update of {name} was cancelled and rolled back "
                            "(UPDATE_ROLLBACK_COMPLETE); the stack is as it was before this deploy.",
                            exit_code=code)
        cause = find_root_cause(api_events_getter(self.cfn), cs.stack_id, name, stream.cutoff)
        detail = f" Root cause: {cause.sentence()}." if cause else ""
        raise Cancelled(f"{reason}: the update of {name} was cancelled; the stack is now {status}.{detail}",
                        exit_code=code)
