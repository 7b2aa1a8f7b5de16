-- One-off upgrade of a database written by the releases before Marten (hand-written storage, which kept answers in
-- worker_inbox and the consent history in mt_doc_consentchange) to what the Marten-based worker reads:
--
--   1. stop the old workers;
--   2. dotnet Worker.dll schema            (Marten migrates the document tables, creates the inbox and event store)
--   3. psql "$DATABASE" -v ON_ERROR_STOP=1 -f scripts/upgrade-from-hand-written-storage.sql
--   4. start the new workers.
--
-- Run it before the new worker takes commands: it gives each account's stream the versions the old history had.
-- The old tables are left in place (mt_doc_consentchange refuses deletes); drop them when no longer wanted.
begin;

-- Answers already given, so that a copy of a command processed before the upgrade is still answered, not re-applied.
insert into mt_doc_inboxentry (tenant_id, id, data, mt_version, mt_last_modified, mt_dotnet_type)
select '*DEFAULT*', message_id,
       jsonb_build_object('id', message_id, 'queue', queue, 'succeeded', succeeded, 'status', status,
                          'body', body::text, 'processedAt', processed_at),
       gen_random_uuid(), processed_at, 'Worker.Storage.InboxEntry'
  from worker_inbox
    on conflict do nothing;

-- One stream per account, at the version of its last history entry.
insert into mt_streams (id, version, timestamp, created, tenant_id)
select data ->> 'accountId', max((data ->> 'sequence')::bigint), max((data ->> 'changedAt')::timestamptz),
       min((data ->> 'changedAt')::timestamptz), '*DEFAULT*'
  from mt_doc_consentchange
 group by data ->> 'accountId';

-- Each history entry as a consent_changed event, at its sequence number in the account's stream.
insert into mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type)
select nextval('mt_events_sequence'), gen_random_uuid(), data ->> 'accountId', (data ->> 'sequence')::bigint,
       jsonb_build_object('permissionId', data -> 'permissionId', 'oldValue', data -> 'oldValue',
                          'newValue', data -> 'newValue', 'changedAt', data -> 'changedAt',
                          'correlationId', data -> 'correlationId', 'commandMessageId', data -> 'commandMessageId'),
       'consent_changed', (data ->> 'changedAt')::timestamptz, '*DEFAULT*',
       'Worker.MarketingPermissions.ConsentChanged, Worker'
  from mt_doc_consentchange
 order by data ->> 'accountId', (data ->> 'sequence')::bigint;

commit;
