"""The identity service end to end: the real executable on a real PostgreSQL cluster, called
through grpcio stubs generated from proto/identity/v1."""

import base64
import json
import time

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from identity.v1 import identity_pb2 as pb
from identity.v1 import identity_pb2_grpc as rpc
from identity_fixtures import bootstrap_identity, channel, identity, suite  # noqa: F401

STRONG = "correct horse battery staple"


def bearer(token):
    return (("authorization", f"Bearer {token}"),)


def code_of(call):
    with pytest.raises(grpc.RpcError) as failure:
        call()
    return failure.value


def b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture(scope="module")
def admin(identity, channel):
    values = identity.bootstrap
    session = rpc.SessionsStub(channel).Login(
        pb.LoginRequest(tenant_id=values["TENANT_ID"], email=values["ADMIN_EMAIL"], password=values["ADMIN_PASSWORD"])
    )
    return session


def make_user(channel, admin, email, role=pb.ROLE_VIEWER, password=STRONG, **fields):
    return rpc.UsersStub(channel).CreateUser(
        pb.CreateUserRequest(email=email, role=role, password=password, **fields), metadata=bearer(admin.access_token)
    )


def login(channel, tenant_id, email, password=STRONG):
    return rpc.SessionsStub(channel).Login(pb.LoginRequest(tenant_id=tenant_id, email=email, password=password))


def test_bootstrap_runs_once_and_prints_a_working_admin(suite, identity, admin):
    assert admin.user.role == pb.ROLE_ADMIN
    assert admin.user.email == "ops@acme.test"
    again = bootstrap_identity(suite)
    assert again.returncode != 0
    assert "has tenants already" in again.stderr


def test_access_tokens_are_eddsa_jwts_verifiable_with_the_published_keys(channel, admin):
    header, payload, signature = admin.access_token.split(".")
    head = json.loads(b64url(header))
    claims = json.loads(b64url(payload))
    assert head["alg"] == "EdDSA" and head["kid"]
    assert claims["tenant"] == admin.user.tenant_id and claims["sub"] == admin.user.id
    assert claims["role"] == "admin" and claims["kind"] == "platform_operator"
    assert 0 < claims["exp"] - claims["iat"] <= 900
    keys = rpc.SessionsStub(channel).GetSigningKeys(pb.GetSigningKeysRequest()).keys
    key = next(k for k in keys if k.key_id == head["kid"])
    assert key.algorithm == "EdDSA" and len(key.public_key) == 32
    Ed25519PublicKey.from_public_bytes(key.public_key).verify(b64url(signature), f"{header}.{payload}".encode())


def test_signing_key_seeds_are_sealed_at_rest(suite, admin):
    rows = suite.psql("SELECT length(seed) || ':' || get_byte(seed, 0) FROM identity.signing_keys").splitlines()
    assert rows and all(row == "73:1" for row in rows)


def test_wrong_passwords_and_unknown_accounts_get_the_same_answer(channel, admin):
    tenant = admin.user.tenant_id
    make_user(channel, admin, "same.answer@acme.test")
    wrong = code_of(lambda: login(channel, tenant, "same.answer@acme.test", "wrong password here"))
    unknown = code_of(lambda: login(channel, tenant, "nobody@acme.test", "wrong password here"))
    assert wrong.code() == unknown.code() == grpc.StatusCode.UNAUTHENTICATED
    assert wrong.details() == unknown.details()
    bad_tenant = code_of(lambda: login(channel, "not-a-uuid", "x@acme.test", STRONG))
    assert bad_tenant.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_repeated_failures_lock_the_account_with_a_retry_hint(channel, admin):
    tenant = admin.user.tenant_id
    make_user(channel, admin, "locked@acme.test")
    for _ in range(5):
        assert code_of(lambda: login(channel, tenant, "locked@acme.test", "not the password!")).code() == (
            grpc.StatusCode.UNAUTHENTICATED
        )
    locked = code_of(lambda: login(channel, tenant, "locked@acme.test", STRONG))
    assert locked.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    hints = dict(locked.trailing_metadata())
    assert int(hints["retry-after-ms"]) > 0
    # Other accounts are unaffected.
    make_user(channel, admin, "unlocked@acme.test")
    assert login(channel, tenant, "unlocked@acme.test").access_token


def test_behind_a_trusted_proxy_the_client_throttle_counts_the_forwarded_client(suite, identity, admin):
    # A second identity that trusts 127.0.0.1 as a proxy (as make run trusts the gateway): the
    # per-address budget (50 failures) is kept per x-forwarded-for client, so one client's
    # failures do not lock the proxy's every login.
    from conftest import ServerProcess
    from identity_fixtures import identity_env
    trusting = ServerProcess("identity", env={**identity_env(suite), "IDENTITY_TRUSTED_PROXIES": "127.0.0.1"})
    try:
        with grpc.insecure_channel(f"127.0.0.1:{trusting.port}") as proxied:
            sessions = rpc.SessionsStub(proxied)

            def attempt(client, n, password="not the password!"):
                return code_of(lambda: sessions.Login(
                    pb.LoginRequest(tenant_id=admin.user.tenant_id, email=f"nobody{n}@{client}.test", password=password),
                    metadata=(("x-forwarded-for", f"203.0.113.99, {client}"),)))

            for n in range(50):
                assert attempt("198.51.100.1", n).code() == grpc.StatusCode.UNAUTHENTICATED
            locked = attempt("198.51.100.1", 50)
            assert locked.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            # Another client behind the same proxy still gets its password checked.
            assert attempt("198.51.100.2", 0).code() == grpc.StatusCode.UNAUTHENTICATED
            # And a direct call from this host (the proxy's own address) is not locked either.
            ok = sessions.Login(pb.LoginRequest(tenant_id=admin.user.tenant_id, email=identity.bootstrap["ADMIN_EMAIL"],
                                                password=identity.bootstrap["ADMIN_PASSWORD"]))
            assert ok.access_token
    finally:
        trusting.stop()


def test_a_tenant_admin_cannot_take_over_or_disable_the_platform_operator(identity, channel, admin):
    tenant = admin.user.tenant_id
    make_user(channel, admin, "second.admin@acme.test", role=pb.ROLE_ADMIN)
    other = login(channel, tenant, "second.admin@acme.test")
    users, privacy = rpc.UsersStub(channel), rpc.PrivacyStub(channel)
    operator_id = admin.user.id
    attempts = {
        "SetPassword": lambda: users.SetPassword(pb.SetPasswordRequest(
            user_id=operator_id, new_password="taken over by an admin"), metadata=bearer(other.access_token)),
        "UpdateUser role": lambda: users.UpdateUser(pb.UpdateUserRequest(
            user=pb.User(id=operator_id, role=pb.ROLE_VIEWER), update_mask=["role"]), metadata=bearer(other.access_token)),
        "DeactivateUser": lambda: users.DeactivateUser(pb.DeactivateUserRequest(id=operator_id),
                                                       metadata=bearer(other.access_token)),
        "AnonymizeUser": lambda: privacy.AnonymizeUser(pb.AnonymizeUserRequest(user_id=operator_id),
                                                       metadata=bearer(other.access_token)),
    }
    for method, attempt in attempts.items():
        failure = code_of(attempt)
        assert failure.code() == grpc.StatusCode.PERMISSION_DENIED, method
        assert "platform operator" in failure.details(), method
    # The operator still logs in with its own password, as an active platform-operator admin.
    again = login(channel, tenant, identity.bootstrap["ADMIN_EMAIL"], identity.bootstrap["ADMIN_PASSWORD"])
    assert again.user.role == pb.ROLE_ADMIN and again.user.active
    assert json.loads(b64url(again.access_token.split(".")[1]))["kind"] == "platform_operator"


def test_user_fields_are_validated_with_clear_messages(channel, admin):
    weak = code_of(lambda: make_user(channel, admin, "weak@acme.test", password="short"))
    assert weak.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at least 12 characters" in weak.details()
    for email in ["", "no-at-sign", "a@b", "two@@acme.test", "sp ace@acme.test"]:
        failure = code_of(lambda: make_user(channel, admin, email))
        assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT, email
    no_role = code_of(lambda: make_user(channel, admin, "norole@acme.test", role=pb.ROLE_UNSPECIFIED))
    assert no_role.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad_phone = code_of(lambda: make_user(channel, admin, "phone@acme.test", phone="'; DROP TABLE users; --"))
    assert bad_phone.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_emails_are_unique_per_tenant_ignoring_case_and_sql_text_is_stored_verbatim(channel, admin):
    tricky = "Robert'); DROP TABLE users; -- \u00e9\u6f22"
    user = make_user(channel, admin, "Bobby@Acme.test", full_name=tricky, username="x' OR '1'='1")
    assert user.full_name == tricky
    fetched = rpc.UsersStub(channel).GetUser(pb.GetUserRequest(id=user.id), metadata=bearer(admin.access_token))
    assert fetched.full_name == tricky and fetched.username == "x' OR '1'='1"
    duplicate = code_of(lambda: make_user(channel, admin, "bobby@ACME.TEST"))
    assert duplicate.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "already exists" in duplicate.details()
    assert login(channel, admin.user.tenant_id, "BOBBY@acme.test").user.id == user.id


def test_users_page_through_without_gaps_or_repeats(channel, admin):
    for index in range(7):
        make_user(channel, admin, f"pager{index}@acme.test", role=pb.ROLE_EDITOR)
    users = rpc.UsersStub(channel)
    seen, token = [], ""
    while True:
        page = users.ListUsers(
            pb.ListUsersRequest(page_size=3, page_token=token, email_prefix="PAGER"), metadata=bearer(admin.access_token)
        )
        assert len(page.users) <= 3
        seen += [user.email for user in page.users]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(f"pager{index}@acme.test" for index in range(7))
    garbage = code_of(lambda: users.ListUsers(pb.ListUsersRequest(page_token="%%%"), metadata=bearer(admin.access_token)))
    assert garbage.code() == grpc.StatusCode.INVALID_ARGUMENT
    wildcard = users.ListUsers(pb.ListUsersRequest(email_prefix="%"), metadata=bearer(admin.access_token))
    assert list(wildcard.users) == []


def test_updates_follow_the_field_mask_and_deactivation_ends_sessions(channel, admin):
    users = rpc.UsersStub(channel)
    user = make_user(channel, admin, "masked@acme.test", full_name="Before", username="keep")
    changed = users.UpdateUser(
        pb.UpdateUserRequest(user=pb.User(id=user.id, full_name="After", username="ignored", role=pb.ROLE_EDITOR),
                             update_mask=["full_name", "role"]),
        metadata=bearer(admin.access_token),
    )
    assert (changed.full_name, changed.username, changed.role) == ("After", "keep", pb.ROLE_EDITOR)
    bad = code_of(lambda: users.UpdateUser(
        pb.UpdateUserRequest(user=pb.User(id=user.id), update_mask=["password_hash"]), metadata=bearer(admin.access_token)))
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    session = login(channel, admin.user.tenant_id, "masked@acme.test")
    users.DeactivateUser(pb.DeactivateUserRequest(id=user.id), metadata=bearer(admin.access_token))
    assert code_of(lambda: login(channel, admin.user.tenant_id, "masked@acme.test")).code() == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    refused = code_of(lambda: rpc.SessionsStub(channel).Refresh(pb.RefreshRequest(refresh_token=session.refresh_token)))
    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
    missing = code_of(lambda: users.GetUser(pb.GetUserRequest(id="00000000-0000-0000-0000-000000000000"),
                                            metadata=bearer(admin.access_token)))
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    not_uuid = code_of(lambda: users.GetUser(pb.GetUserRequest(id="1 OR 1=1"), metadata=bearer(admin.access_token)))
    assert not_uuid.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_roles_and_credentials_are_enforced_per_method(channel, admin):
    tenant = admin.user.tenant_id
    make_user(channel, admin, "viewer@acme.test", role=pb.ROLE_VIEWER)
    viewer = login(channel, tenant, "viewer@acme.test")
    users = rpc.UsersStub(channel)
    assert users.GetUser(pb.GetUserRequest(id=viewer.user.id), metadata=bearer(viewer.access_token)).id == viewer.user.id
    denied = code_of(lambda: make_user(channel, viewer, "created.by.viewer@acme.test"))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    audit = code_of(lambda: rpc.AuditStub(channel).VerifyAuditChain(pb.VerifyAuditChainRequest(),
                                                                   metadata=bearer(viewer.access_token)))
    assert audit.code() == grpc.StatusCode.PERMISSION_DENIED
    assert code_of(lambda: users.ListUsers(pb.ListUsersRequest())).code() == grpc.StatusCode.UNAUTHENTICATED
    header, payload, signature = viewer.access_token.split(".")
    claims = json.loads(b64url(payload))
    claims["role"] = "admin"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged = f"{header}.{forged_payload}.{signature}"
    tampered = code_of(lambda: make_user(channel, pb.Session(access_token=forged), "forged@acme.test"))
    assert tampered.code() == grpc.StatusCode.UNAUTHENTICATED
    escalation = code_of(lambda: rpc.TenantsStub(channel).CreateTenant(
        pb.CreateTenantRequest(name="Evil", admin_email="e@evil.test"), metadata=bearer(viewer.access_token)))
    assert escalation.code() == grpc.StatusCode.PERMISSION_DENIED


def test_an_admin_of_one_tenant_can_do_nothing_in_another(channel, admin):
    created = rpc.TenantsStub(channel).CreateTenant(
        pb.CreateTenantRequest(name="Globex", plan="team", admin_email="boss@globex.test"),
        metadata=bearer(admin.access_token),
    )
    other = login(channel, created.tenant.id, "boss@globex.test", created.admin_initial_password)
    assert other.user.role == pb.ROLE_ADMIN and other.user.tenant_id != admin.user.tenant_id
    users = rpc.UsersStub(channel)
    foreign = code_of(lambda: users.GetUser(pb.GetUserRequest(id=admin.user.id), metadata=bearer(other.access_token)))
    assert foreign.code() == grpc.StatusCode.NOT_FOUND
    deactivate = code_of(lambda: users.DeactivateUser(pb.DeactivateUserRequest(id=admin.user.id),
                                                      metadata=bearer(other.access_token)))
    assert deactivate.code() == grpc.StatusCode.NOT_FOUND
    listed = users.ListUsers(pb.ListUsersRequest(page_size=500), metadata=bearer(other.access_token))
    assert [user.email for user in listed.users] == ["boss@globex.test"]
    no_tenants = code_of(lambda: rpc.TenantsStub(channel).CreateTenant(
        pb.CreateTenantRequest(name="Nested", admin_email="n@n.test"), metadata=bearer(other.access_token)))
    assert no_tenants.code() == grpc.StatusCode.PERMISSION_DENIED
    # Logging in to the other tenant with the first tenant's admin email fails.
    assert code_of(lambda: login(channel, created.tenant.id, "ops@acme.test", "whatever it is")).code() == (
        grpc.StatusCode.UNAUTHENTICATED
    )


def test_refresh_tokens_rotate_and_reuse_revokes_the_family(channel, admin):
    tenant = admin.user.tenant_id
    make_user(channel, admin, "rotating@acme.test")
    sessions = rpc.SessionsStub(channel)
    first = login(channel, tenant, "rotating@acme.test")
    second = sessions.Refresh(pb.RefreshRequest(refresh_token=first.refresh_token))
    assert second.refresh_token != first.refresh_token and second.access_token
    # A client retrying the same refresh within the grace period is not punished.
    retried = sessions.Refresh(pb.RefreshRequest(refresh_token=first.refresh_token))
    assert retried.refresh_token not in (first.refresh_token, second.refresh_token)
    time.sleep(5.5)
    stolen = code_of(lambda: sessions.Refresh(pb.RefreshRequest(refresh_token=first.refresh_token)))
    assert stolen.code() == grpc.StatusCode.UNAUTHENTICATED and "revoked" in stolen.details()
    for token in (second.refresh_token, retried.refresh_token):
        assert code_of(lambda: sessions.Refresh(pb.RefreshRequest(refresh_token=token))).code() == (
            grpc.StatusCode.UNAUTHENTICATED
        )
    # Logout revokes a fresh family.
    third = login(channel, tenant, "rotating@acme.test")
    sessions.Logout(pb.LogoutRequest(refresh_token=third.refresh_token), metadata=bearer(third.access_token))
    assert code_of(lambda: sessions.Refresh(pb.RefreshRequest(refresh_token=third.refresh_token))).code() == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    garbage = code_of(lambda: sessions.Refresh(pb.RefreshRequest(refresh_token="rt_' OR 1=1 --")))
    assert garbage.code() == grpc.StatusCode.UNAUTHENTICATED


def test_key_rotation_publishes_the_new_key_and_keeps_old_tokens_valid(channel, admin):
    sessions = rpc.SessionsStub(channel)
    before = {key.key_id for key in sessions.GetSigningKeys(pb.GetSigningKeysRequest()).keys}
    rotated = sessions.RotateSigningKey(pb.RotateSigningKeyRequest(), metadata=bearer(admin.access_token)).key
    assert rotated.key_id not in before and rotated.active_from_ms > time.time() * 1000
    after = sessions.GetSigningKeys(pb.GetSigningKeysRequest()).keys
    assert {key.key_id for key in after} == before | {rotated.key_id}
    assert all(key.published_until_ms > time.time() * 1000 for key in after if key.key_id in before)
    # The token signed before the rotation still works.
    rpc.TenantsStub(channel).GetTenant(pb.GetTenantRequest(), metadata=bearer(admin.access_token))


def test_the_audit_chain_records_changes_and_detects_tampering(suite, channel, admin):
    created = rpc.TenantsStub(channel).CreateTenant(
        pb.CreateTenantRequest(name="Audited", admin_email="root@audited.test"), metadata=bearer(admin.access_token)
    )
    owner = login(channel, created.tenant.id, "root@audited.test", created.admin_initial_password)
    user = make_user(channel, owner, "subject@audited.test", full_name="Original")
    rpc.UsersStub(channel).UpdateUser(
        pb.UpdateUserRequest(user=pb.User(id=user.id, full_name="Renamed"), update_mask=["full_name"]),
        metadata=bearer(owner.access_token),
    )
    audit = rpc.AuditStub(channel)
    events = audit.ListAuditEvents(pb.ListAuditEventsRequest(entity_id=user.id), metadata=bearer(owner.access_token)).events
    assert [event.action for event in events] == ["update", "create"]
    assert json.loads(events[0].before_json)["full_name"] == "Original"
    assert json.loads(events[0].after_json)["full_name"] == "Renamed"
    assert events[0].actor == owner.user.id
    verified = audit.VerifyAuditChain(pb.VerifyAuditChainRequest(), metadata=bearer(owner.access_token))
    assert verified.intact and verified.events_checked >= 5
    # An edited row is detected...
    suite.psql(
        f"UPDATE identity.audit_events SET after_json = replace(after_json, 'Renamed', 'Forged') "
        f"WHERE tenant_id = '{created.tenant.id}' AND action = 'update'")
    edited = audit.VerifyAuditChain(pb.VerifyAuditChainRequest(), metadata=bearer(owner.access_token))
    assert not edited.intact and "edited" in edited.problem
    suite.psql(
        f"UPDATE identity.audit_events SET after_json = replace(after_json, 'Forged', 'Renamed') "
        f"WHERE tenant_id = '{created.tenant.id}' AND action = 'update'")
    assert audit.VerifyAuditChain(pb.VerifyAuditChainRequest(), metadata=bearer(owner.access_token)).intact
    # ...and so is a deleted newest row.
    suite.psql(
        f"DELETE FROM identity.audit_events WHERE tenant_id = '{created.tenant.id}' AND seq = "
        f"(SELECT max(seq) FROM identity.audit_events WHERE tenant_id = '{created.tenant.id}')")
    deleted = audit.VerifyAuditChain(pb.VerifyAuditChainRequest(), metadata=bearer(owner.access_token))
    assert not deleted.intact and "missing" in deleted.problem
    # The first tenant's chain is untouched.
    assert audit.VerifyAuditChain(pb.VerifyAuditChainRequest(), metadata=bearer(admin.access_token)).intact


def test_health_and_reflection_need_no_token(channel):
    from grpc.health.v1 import health_pb2, health_pb2_grpc

    status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert status.status == health_pb2.HealthCheckResponse.SERVING


def test_api_keys_are_shown_once_work_as_bearer_tokens_and_can_be_revoked(channel, admin):
    keys = rpc.ApiKeysStub(channel)
    created = keys.CreateApiKey(pb.CreateApiKeyRequest(name="etl script", role=pb.ROLE_EDITOR, ttl_days=30),
                                metadata=bearer(admin.access_token))
    secret = created.secret
    assert secret.startswith("gsk_") and secret.startswith(created.key.prefix + "_") and len(secret) > 40
    listed = keys.ListApiKeys(pb.ListApiKeysRequest(), metadata=bearer(admin.access_token)).keys
    assert any(k.id == created.key.id and k.prefix == created.key.prefix for k in listed)
    assert secret not in str(listed)
    # Directly as a bearer credential, with the key's role.
    tenant = rpc.TenantsStub(channel).GetTenant(pb.GetTenantRequest(), metadata=bearer(secret))
    assert tenant.id == admin.user.tenant_id
    denied = code_of(lambda: make_user(channel, pb.Session(access_token=secret), "by.key@acme.test"))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    # Exchanged for an access token of kind api_key.
    exchanged = keys.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=secret))
    claims = json.loads(b64url(exchanged.access_token.split(".")[1]))
    assert (claims["kind"], claims["role"], claims["sub"]) == ("api_key", "editor", created.key.id)
    used = [k for k in keys.ListApiKeys(pb.ListApiKeysRequest(), metadata=bearer(admin.access_token)).keys
            if k.id == created.key.id][0]
    assert used.last_used_at_ms > 0
    keys.RevokeApiKey(pb.RevokeApiKeyRequest(id=created.key.id), metadata=bearer(admin.access_token))
    for call in (lambda: rpc.TenantsStub(channel).GetTenant(pb.GetTenantRequest(), metadata=bearer(secret)),
                 lambda: keys.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=secret)),
                 lambda: keys.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key="gsk_' OR 1=1 --"))):
        assert code_of(call).code() == grpc.StatusCode.UNAUTHENTICATED


def test_an_api_key_never_outlives_or_outranks_its_creator(channel, admin):
    users, keys = rpc.UsersStub(channel), rpc.ApiKeysStub(channel)
    creator = make_user(channel, admin, "key.creator@acme.test", role=pb.ROLE_ADMIN)
    session = login(channel, admin.user.tenant_id, "key.creator@acme.test")
    created = keys.CreateApiKey(pb.CreateApiKeyRequest(name="creator's admin key", role=pb.ROLE_ADMIN),
                                metadata=bearer(session.access_token))
    secret = created.secret

    def exchanged_role():
        token = keys.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=secret)).access_token
        return token, json.loads(b64url(token.split(".")[1]))["role"]

    def set_role(role):
        users.UpdateUser(pb.UpdateUserRequest(user=pb.User(id=creator.id, role=role), update_mask=["role"]),
                         metadata=bearer(admin.access_token))

    token, role = exchanged_role()
    assert role == "admin"
    make_user(channel, pb.Session(access_token=token), "made.by.key@acme.test")
    # Demoted to viewer: the key yields at most a viewer token; CreateUser is refused either way.
    set_role(pb.ROLE_VIEWER)
    token, role = exchanged_role()
    assert role == "viewer"
    for credential in (token, secret):
        refused = code_of(lambda: make_user(channel, pb.Session(access_token=credential), "escalated@acme.test"))
        assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    assert rpc.TenantsStub(channel).GetTenant(pb.GetTenantRequest(), metadata=bearer(secret)).id == admin.user.tenant_id
    set_role(pb.ROLE_ADMIN)
    assert exchanged_role()[1] == "admin"
    # A key never creates keys (it has no user behind it), exchanged or direct.
    for credential in (exchanged_role()[0], secret):
        minted = code_of(lambda: keys.CreateApiKey(pb.CreateApiKeyRequest(name="by a key", role=pb.ROLE_VIEWER),
                                                   metadata=bearer(credential)))
        assert minted.code() == grpc.StatusCode.PERMISSION_DENIED
    # Deactivated: the key is refused, exchanged or direct, and listed as revoked.
    users.DeactivateUser(pb.DeactivateUserRequest(id=creator.id), metadata=bearer(admin.access_token))
    assert code_of(exchanged_role).code() == grpc.StatusCode.UNAUTHENTICATED
    direct = code_of(lambda: make_user(channel, pb.Session(access_token=secret), "after.deactivation@acme.test"))
    assert direct.code() == grpc.StatusCode.UNAUTHENTICATED
    listed = [k for k in keys.ListApiKeys(pb.ListApiKeysRequest(), metadata=bearer(admin.access_token)).keys
              if k.id == created.key.id]
    assert listed[0].revoked_at_ms > 0
    # Anonymised: the same.
    other = make_user(channel, admin, "anonymised.key.creator@acme.test", role=pb.ROLE_ADMIN)
    other_session = login(channel, admin.user.tenant_id, "anonymised.key.creator@acme.test")
    other_secret = keys.CreateApiKey(pb.CreateApiKeyRequest(name="to be forgotten", role=pb.ROLE_EDITOR),
                                     metadata=bearer(other_session.access_token)).secret
    keys.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=other_secret))
    rpc.PrivacyStub(channel).AnonymizeUser(pb.AnonymizeUserRequest(user_id=other.id), metadata=bearer(admin.access_token))
    refused = code_of(lambda: keys.ExchangeApiKey(pb.ExchangeApiKeyRequest(api_key=other_secret)))
    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
    assert rpc.AuditStub(channel).VerifyAuditChain(pb.VerifyAuditChainRequest(), metadata=bearer(admin.access_token)).intact


def test_preferences_and_dashboards_belong_to_their_user(channel, admin):
    make_user(channel, admin, "prefs@acme.test", role=pb.ROLE_VIEWER)
    make_user(channel, admin, "other.prefs@acme.test", role=pb.ROLE_VIEWER)
    me = login(channel, admin.user.tenant_id, "prefs@acme.test")
    other = login(channel, admin.user.tenant_id, "other.prefs@acme.test")
    settings = rpc.UserSettingsStub(channel)
    defaults = settings.GetPreferences(pb.GetPreferencesRequest(), metadata=bearer(me.access_token))
    assert (defaults.theme, defaults.timezone, defaults.dashboard_refresh_seconds) == ("system", "UTC", 60)
    updated = settings.UpdatePreferences(pb.UpdatePreferencesRequest(
        preferences=pb.Preferences(theme="dark", timezone="America/Sao_Paulo", language="ignored",
                                   custom={"density": "compact"}),
        update_mask=["theme", "timezone", "custom"]), metadata=bearer(me.access_token))
    assert (updated.theme, updated.timezone, updated.language, updated.custom["density"]) == (
        "dark", "America/Sao_Paulo", "en", "compact")
    bad = code_of(lambda: settings.UpdatePreferences(pb.UpdatePreferencesRequest(
        preferences=pb.Preferences(theme="neon"), update_mask=["theme"]), metadata=bearer(me.access_token)))
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert settings.GetPreferences(pb.GetPreferencesRequest(), metadata=bearer(other.access_token)).theme == "system"
    first = settings.SaveDashboard(pb.SaveDashboardRequest(dashboard=pb.Dashboard(
        name="Ops", layout_json='{"widgets": [1, 2]}', is_default=True, shared=True)), metadata=bearer(me.access_token))
    second = settings.SaveDashboard(pb.SaveDashboardRequest(dashboard=pb.Dashboard(
        name="Private", layout_json="{}", is_default=True)), metadata=bearer(me.access_token))
    mine = settings.ListDashboards(pb.ListDashboardsRequest(), metadata=bearer(me.access_token)).dashboards
    assert [d.is_default for d in mine if d.id in (first.id, second.id)].count(True) == 1
    theirs = settings.ListDashboards(pb.ListDashboardsRequest(), metadata=bearer(other.access_token)).dashboards
    assert [d.id for d in theirs] == [first.id]
    stale = pb.Dashboard(id=first.id, name="Ops v2", layout_json="{}", version=first.version, shared=True)
    settings.SaveDashboard(pb.SaveDashboardRequest(dashboard=stale), metadata=bearer(me.access_token))
    conflict = code_of(lambda: settings.SaveDashboard(pb.SaveDashboardRequest(dashboard=stale), metadata=bearer(me.access_token)))
    assert conflict.code() == grpc.StatusCode.ABORTED
    foreign = code_of(lambda: settings.SaveDashboard(pb.SaveDashboardRequest(dashboard=pb.Dashboard(
        id=first.id, name="Hijack", version=2)), metadata=bearer(other.access_token)))
    assert foreign.code() == grpc.StatusCode.NOT_FOUND
    bad_json = code_of(lambda: settings.SaveDashboard(pb.SaveDashboardRequest(dashboard=pb.Dashboard(
        name="Broken", layout_json="{not json")), metadata=bearer(me.access_token)))
    assert bad_json.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_export_and_anonymisation_keep_the_audit_chain_intact(channel, admin):
    user = make_user(channel, admin, "forget.me@acme.test", full_name="Forget Me", phone="+55 11 5555-0000")
    session = login(channel, admin.user.tenant_id, "forget.me@acme.test")
    rpc.UserSettingsStub(channel).UpdatePreferences(pb.UpdatePreferencesRequest(
        preferences=pb.Preferences(theme="dark"), update_mask=["theme"]), metadata=bearer(session.access_token))
    privacy = rpc.PrivacyStub(channel)
    exported = json.loads(privacy.ExportUserData(pb.ExportUserDataRequest(user_id=user.id),
                                                 metadata=bearer(admin.access_token)).json)
    assert exported["user"]["email"] == "forget.me@acme.test" and "password_hash" not in exported["user"]
    assert exported["preferences"]["theme"] == "dark" and len(exported["sessions"]) == 1
    assert any("Forget Me" in (event["after"] or "") for event in exported["audit_events"])
    result = privacy.AnonymizeUser(pb.AnonymizeUserRequest(user_id=user.id), metadata=bearer(admin.access_token))
    assert result.user.email.startswith("anonymized-") and result.user.full_name == "" and not result.user.active
    assert result.audit_events_redacted >= 1
    after = privacy.ExportUserData(pb.ExportUserDataRequest(user_id=user.id), metadata=bearer(admin.access_token)).json
    assert "Forget Me" not in after and "forget.me@acme.test" not in after and "5555" not in after
    assert code_of(lambda: login(channel, admin.user.tenant_id, "forget.me@acme.test")).code() == (
        grpc.StatusCode.UNAUTHENTICATED)
    assert code_of(lambda: rpc.SessionsStub(channel).Refresh(pb.RefreshRequest(
        refresh_token=session.refresh_token))).code() == grpc.StatusCode.UNAUTHENTICATED
    assert rpc.AuditStub(channel).VerifyAuditChain(pb.VerifyAuditChainRequest(), metadata=bearer(admin.access_token)).intact
    missing = code_of(lambda: privacy.AnonymizeUser(pb.AnonymizeUserRequest(
        user_id="00000000-0000-0000-0000-000000000000"), metadata=bearer(admin.access_token)))
    assert missing.code() == grpc.StatusCode.NOT_FOUND


def test_stored_passwords_are_argon2id_hashes(suite, admin):
    hashes = suite.psql("SELECT password_hash FROM identity.users").splitlines()
    assert hashes and all(h.startswith("$argon2id$v=19$") for h in hashes)


def test_every_method_refuses_another_tenants_ids(channel, admin):
    """Table-driven: each identity RPC that names a row is called by the admin of another tenant
    with this tenant's ids; every one fails with NOT_FOUND or PERMISSION_DENIED."""
    victim = make_user(channel, admin, "victim@acme.test", role=pb.ROLE_EDITOR)
    victim_session = login(channel, admin.user.tenant_id, "victim@acme.test")
    dashboard = rpc.UserSettingsStub(channel).SaveDashboard(pb.SaveDashboardRequest(dashboard=pb.Dashboard(
        name="Victim's", layout_json="{}", shared=True)), metadata=bearer(victim_session.access_token))
    key = rpc.ApiKeysStub(channel).CreateApiKey(pb.CreateApiKeyRequest(name="victim key", role=pb.ROLE_VIEWER),
                                                metadata=bearer(admin.access_token)).key
    created = rpc.TenantsStub(channel).CreateTenant(
        pb.CreateTenantRequest(name="Intruder", admin_email="root@intruder.test"), metadata=bearer(admin.access_token))
    intruder = login(channel, created.tenant.id, "root@intruder.test", created.admin_initial_password)
    users, settings, keys = rpc.UsersStub(channel), rpc.UserSettingsStub(channel), rpc.ApiKeysStub(channel)
    privacy, sessions, tenants = rpc.PrivacyStub(channel), rpc.SessionsStub(channel), rpc.TenantsStub(channel)
    attempts = {
        "Users/GetUser": lambda m: users.GetUser(pb.GetUserRequest(id=victim.id), metadata=m),
        "Users/UpdateUser": lambda m: users.UpdateUser(pb.UpdateUserRequest(
            user=pb.User(id=victim.id, full_name="pwned"), update_mask=["full_name"]), metadata=m),
        "Users/DeactivateUser": lambda m: users.DeactivateUser(pb.DeactivateUserRequest(id=victim.id), metadata=m),
        "Users/SetPassword": lambda m: users.SetPassword(pb.SetPasswordRequest(
            user_id=victim.id, new_password="intruder password 123"), metadata=m),
        "Privacy/ExportUserData": lambda m: privacy.ExportUserData(pb.ExportUserDataRequest(user_id=victim.id), metadata=m),
        "Privacy/AnonymizeUser": lambda m: privacy.AnonymizeUser(pb.AnonymizeUserRequest(user_id=victim.id), metadata=m),
        "ApiKeys/RevokeApiKey": lambda m: keys.RevokeApiKey(pb.RevokeApiKeyRequest(id=key.id), metadata=m),
        "UserSettings/SaveDashboard": lambda m: settings.SaveDashboard(pb.SaveDashboardRequest(dashboard=pb.Dashboard(
            id=dashboard.id, name="pwned", version=dashboard.version)), metadata=m),
        "UserSettings/DeleteDashboard": lambda m: settings.DeleteDashboard(pb.DeleteDashboardRequest(id=dashboard.id),
                                                                           metadata=m),
        "Sessions/Logout": lambda m: sessions.Logout(pb.LogoutRequest(refresh_token=victim_session.refresh_token),
                                                     metadata=m),
        "Sessions/RotateSigningKey": lambda m: sessions.RotateSigningKey(pb.RotateSigningKeyRequest(), metadata=m),
        "Tenants/CreateTenant": lambda m: tenants.CreateTenant(pb.CreateTenantRequest(
            name="Nested", admin_email="x@nested.test"), metadata=m),
    }
    for method, attempt in attempts.items():
        failure = code_of(lambda: attempt(bearer(intruder.access_token)))
        assert failure.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED), method
    # Listing methods only ever show the caller's own tenant.
    assert [u.email for u in users.ListUsers(pb.ListUsersRequest(), metadata=bearer(intruder.access_token)).users] == [
        "root@intruder.test"]
    assert users.CountUsers(pb.CountUsersRequest(), metadata=bearer(intruder.access_token)).active == 1
    assert keys.ListApiKeys(pb.ListApiKeysRequest(), metadata=bearer(intruder.access_token)).keys == []
    assert dashboard.id not in [d.id for d in settings.ListDashboards(
        pb.ListDashboardsRequest(), metadata=bearer(intruder.access_token)).dashboards]
    assert all(e.entity_id != victim.id for e in rpc.AuditStub(channel).ListAuditEvents(
        pb.ListAuditEventsRequest(page_size=500), metadata=bearer(intruder.access_token)).events)
    assert tenants.GetTenant(pb.GetTenantRequest(), metadata=bearer(intruder.access_token)).id == created.tenant.id
    # Nothing changed for the victim.
    assert users.GetUser(pb.GetUserRequest(id=victim.id), metadata=bearer(admin.access_token)).active
    assert sessions.Refresh(pb.RefreshRequest(refresh_token=victim_session.refresh_token)).access_token


def test_names_are_measured_as_the_database_counts_them(channel, admin):
    # "\U0001F44D\U0001F3FD" is one character to Swift but two code points to PostgreSQL's
    # length(): 101 of them pass a 200-character check that counts graphemes and then fail the
    # table's CHECK (FAILED_PRECONDITION). They must be INVALID_ARGUMENT before any write.
    thumbs = "\U0001F44D\U0001F3FD"
    keys = rpc.ApiKeysStub(channel)
    refused = code_of(lambda: keys.CreateApiKey(pb.CreateApiKeyRequest(name=thumbs * 101, role=pb.ROLE_VIEWER),
                                                metadata=bearer(admin.access_token)))
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT and "at most 200" in refused.details()
    made = keys.CreateApiKey(pb.CreateApiKeyRequest(name=thumbs * 100, role=pb.ROLE_VIEWER),
                             metadata=bearer(admin.access_token))
    assert made.key.name == thumbs * 100
