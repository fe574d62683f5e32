#!/usr/bin/env python3
"""A Python client of northstar-jira, generated from proto/ with grpcio-tools.

Creates an application, a Jira credential and a configuration routing the application's
vulnerabilities to a Jira project, submits a vulnerability, reads it back with GetEvent and
checks that every field round-trips. Exits non-zero, saying what differed, on any mismatch or
failed call.

    scripts/python-client --addr 127.0.0.1:50051 --api-key "$ADMIN_KEY" \\
        --jira-url http://127.0.0.1:8090 --jira-email sim@example.com --jira-token sim-token

(scripts/python-client makes the virtualenv, generates the client into target/python-client
and runs this file with that directory on PYTHONPATH.) The API key must be an ADMIN key of a
tenant: it is sent on every call as `authorization: Bearer <key>`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid

try:
    import grpc
    from google.protobuf import timestamp_pb2
    from northstar.jira.v1 import (
        application_pb2,
        application_pb2_grpc,
        common_pb2,
        configuration_pb2,
        configuration_pb2_grpc,
        credential_pb2,
        credential_pb2_grpc,
        event_pb2,
        event_pb2_grpc,
    )
except ImportError as err:  # pragma: no cover - environment problem, not a client problem
    sys.exit(
        f"client_demo.py: cannot import the generated client ({err}); run it through "
        "scripts/python-client, or put the output of examples/python/generate.py on PYTHONPATH"
    )

# Every call gets a deadline: the service answers UNAVAILABLE within 5 s when its database is down.
CALL_TIMEOUT_SECONDS = 15.0


class DemoError(Exception):
    """A failed step; the message says which and why."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", required=True, help="gRPC address of the service, host:port (plaintext)")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("NORTHSTAR_API_KEY"),
        help="an ADMIN API key of a tenant (default: $NORTHSTAR_API_KEY)",
    )
    parser.add_argument("--jira-url", required=True, help="base URL of the Jira site (or simulator)")
    parser.add_argument("--jira-email", required=True, help="email of the Jira API account")
    parser.add_argument(
        "--jira-token",
        default=os.environ.get("JIRA_API_TOKEN"),
        help="API token of the Jira account (default: $JIRA_API_TOKEN)",
    )
    parser.add_argument("--jira-project", default="SIM", help="Jira project key to file tickets in (default: SIM)")
    parser.add_argument("--issue-type", default="Bug", help="Jira issue type of the tickets (default: Bug)")
    parser.add_argument("--application-id", default="py-demo", help="application the event belongs to")
    parser.add_argument(
        "--external-id",
        default=None,
        help="external id of the event to submit (default: a fresh py-demo-<random> id, so reruns never collide)",
    )
    args = parser.parse_args()
    if not args.api_key:
        parser.error("--api-key (or NORTHSTAR_API_KEY) is required")
    if not args.jira_token:
        parser.error("--jira-token (or JIRA_API_TOKEN) is required")
    return args


class Demo:
    def __init__(self, channel: grpc.Channel, api_key: str) -> None:
        self.metadata = (("authorization", f"Bearer {api_key}"),)
        self.applications = application_pb2_grpc.ApplicationServiceStub(channel)
        self.credentials = credential_pb2_grpc.CredentialServiceStub(channel)
        self.configurations = configuration_pb2_grpc.ConfigurationServiceStub(channel)
        self.events = event_pb2_grpc.EventServiceStub(channel)

    def call(self, what: str, method, request):
        """Calls one RPC with the API key and a deadline; a gRPC error becomes a DemoError."""
        try:
            return method(request, metadata=self.metadata, timeout=CALL_TIMEOUT_SECONDS)
        except grpc.RpcError as err:
            raise DemoError(f"{what} failed: {err.code().name}: {err.details()}") from None


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(args: argparse.Namespace) -> None:
    run_id = uuid.uuid4().hex[:8]
    external_id = args.external_id or f"py-demo-{run_id}"
    with grpc.insecure_channel(args.addr) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=CALL_TIMEOUT_SECONDS)
        except grpc.FutureTimeoutError:
            raise DemoError(f"cannot connect to {args.addr} within {CALL_TIMEOUT_SECONDS:.0f}s") from None
        demo = Demo(channel, args.api_key)

        step(f"UpsertApplication {args.application_id}")
        demo.call(
            "UpsertApplication",
            demo.applications.UpsertApplication,
            application_pb2.UpsertApplicationRequest(
                application_id=args.application_id, name=f"Python demo ({args.application_id})"
            ),
        )

        step(f"CreateCredential for {args.jira_url} as {args.jira_email}")
        credential = demo.call(
            "CreateCredential",
            demo.credentials.CreateCredential,
            credential_pb2.CreateCredentialRequest(
                name=f"python-demo-{run_id}",
                jira_url=args.jira_url,
                email=args.jira_email,
                api_token=args.jira_token,
            ),
        ).credential
        print(f"    credential_id={credential.credential_id} jira_url={credential.jira_url}")

        step("TestConnection")
        tested = demo.call(
            "TestConnection",
            demo.credentials.TestConnection,
            credential_pb2.TestConnectionRequest(credential_id=credential.credential_id),
        )
        if not tested.ok:
            reason = credential_pb2.ConnectionFailureReason.Name(tested.failure_reason)
            raise DemoError(f"TestConnection: Jira refused the credential ({reason}): {tested.message}")
        print(f"    ok: signed in as {tested.display_name!r}, {tested.project_count} project(s) visible")

        step(f"CreateConfiguration: VULNERABILITY events of {args.application_id} -> {args.jira_project}")
        configuration = demo.call(
            "CreateConfiguration",
            demo.configurations.CreateConfiguration,
            configuration_pb2.CreateConfigurationRequest(
                name=f"python-demo-{run_id}",
                credential_id=credential.credential_id,
                trigger=common_pb2.TRIGGER_VULNERABILITY,
                application_ids=[args.application_id],
                jira_project_key=args.jira_project,
                default_issue_type=args.issue_type,
                title_prefix="[Python]",
            ),
        ).configuration
        print(f"    configuration_id={configuration.configuration_id}")

        # Whole seconds in the past: a detection time may not lie in the future, and a
        # round-trip check should not depend on sub-microsecond precision.
        detected_at = timestamp_pb2.Timestamp(seconds=int(time.time()) - 3600)
        sent = event_pb2.SubmitEventRequest(
            kind=common_pb2.TRIGGER_VULNERABILITY,
            external_id=external_id,
            application_id=args.application_id,
            title="Reflected XSS in /search (found by the Python client)",
            severity=common_pb2.SEVERITY_HIGH,
            link=f"https://northstar.example/findings/{external_id}",
            detected_at=detected_at,
            vulnerability_type="Cross-Site Scripting",
            risk_score=7.25,
        )
        step(f"SubmitEvent {external_id}")
        submitted = demo.call("SubmitEvent", demo.events.SubmitEvent, sent)
        if not submitted.created:
            raise DemoError(f"SubmitEvent: expected a new event, the server says {external_id} already existed")
        print(f"    event_id={submitted.event.event_id} created={submitted.created}")

        step(f"GetEvent {external_id}")
        got = demo.call("GetEvent", demo.events.GetEvent, event_pb2.GetEventRequest(external_id=external_id))
        check_round_trip(sent, submitted.event.event_id, configuration.configuration_id, got)
        event = got.event
        print(
            f"    kind={common_pb2.Trigger.Name(event.kind)} severity={common_pb2.Severity.Name(event.severity)} "
            f"status={common_pb2.EventStatus.Name(event.status)} risk_score={event.risk_score} "
            f"title={event.title!r}"
        )
        for ticket in got.tickets:
            print(
                f"    ticket for {ticket.configuration_name}: {event_pb2.TicketState.Name(ticket.state)}"
                f" {ticket.jira_issue_key or '(not created yet)'}"
            )
    print(f"OK: {external_id} round-tripped through {args.addr}")


def check_round_trip(
    sent: event_pb2.SubmitEventRequest,
    event_id: str,
    configuration_id: str,
    got: event_pb2.GetEventResponse,
) -> None:
    """Compares what GetEvent answered with what was submitted; raises naming every difference."""
    if not got.HasField("event"):
        raise DemoError("GetEvent: the response has no event")
    event = got.event
    mismatches: list[str] = []

    def expect(field: str, want, have) -> None:
        if want != have:
            mismatches.append(f"{field}: expected {want!r}, got {have!r}")

    expect("event_id", event_id, event.event_id)
    for field in ("kind", "external_id", "application_id", "title", "severity", "link", "vulnerability_type"):
        expect(field, getattr(sent, field), getattr(event, field))
    expect("risk_score is set", True, event.HasField("risk_score"))
    expect("risk_score", sent.risk_score, event.risk_score)
    expect("detected_at", sent.detected_at.ToJsonString(), event.detected_at.ToJsonString())
    expect("status (a new event is OPEN)", common_pb2.EVENT_STATUS_OPEN, event.status)
    expect("GetEventResponse.status", event.status, got.status)
    expect("incident_type (vulnerabilities have none)", "", event.incident_type)
    expect("source_ips", [], list(event.source_ips))
    expect("request_urls", [], list(event.request_urls))
    expect("create_time is set", True, event.HasField("create_time"))
    ticket_configurations = [t.configuration_id for t in got.tickets]
    expect("tickets (one owed by the configuration)", [configuration_id], ticket_configurations)
    if mismatches:
        raise DemoError("GetEvent does not match what was submitted:\n  " + "\n  ".join(mismatches))


def main() -> int:
    args = parse_args()
    try:
        run(args)
    except DemoError as err:
        print(f"FAILED: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
