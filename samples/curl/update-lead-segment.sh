#!/usr/bin/env bash
# The Pexip Engage seed's curl example, verbatim but for the host (the front door: dotnet run --project src/Publisher -- serve).
curl \
 -X PATCH ${FRONT_DOOR:-http://localhost:8080}/enterprises/acme/lead-segments/1234 \
 -H "Content-Type: application/json" \
 -H "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c" \
 -H "X-Correlation-Id: a4f0048e-c983-11ed-afa1-0242ac120002" \
 -d '{"description":"string","code":"string"}'
