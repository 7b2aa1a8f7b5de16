#!/usr/bin/env bash
# The Tulo Payway seed's curl example, verbatim but for the host (the front door: dotnet run --project src/Publisher -- serve).
curl --request PUT \
--url ${FRONT_DOOR:-http://localhost:8080}/external/api/v1/marketing_permissions/update \
--header 'accept: application/json' \
--header 'authorization: Bearer token' \
--header 'content-type: application/json' \
--data '{
"account_id": "585a4768edce2c5e6f000001",
"marketing_permissions": [
{
"id": "5b9707e317c0f859830000c3",
"enabled": true
},
{
"id": "5b9707e317c0f859830000c7",
"enabled": true
},
{
"id": "5b9707e317c0f859830000cb",
"enabled": false
}
]
}'
