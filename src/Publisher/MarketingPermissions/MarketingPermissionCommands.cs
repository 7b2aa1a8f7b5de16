using System.CommandLine;
using Contracts.MarketingPermissions;

namespace Publisher.MarketingPermissions;

/// <summary><c>marketing-permissions update --account 585a... --permission 5b97...c3=true [--permission ...] [--wait]</c></summary>
public static class MarketingPermissionCommands
{
    public static Command Build()
    {
        var account = new Option<string>("--account") { Description = "The Payway account id (24 hex digits)", Required = true };
        var permissions = new Option<string[]>("--permission")
        {
            Description = "ID=true or ID=false; repeat for each permission",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var update = new Command("update", "Publish an update-marketing-permissions command (all listed permissions or none)")
        {
            account, permissions,
        };
        CommonOptions.AddTo(update);
        update.Validators.Add(result =>
        {
            foreach (var permission in result.GetValue(permissions) ?? [])
            {
                if (Parse(permission) is null) result.AddError($"--permission {permission}: expected ID=true or ID=false");
            }
        });
        update.SetAction((parse, cancellationToken) =>
            CommonOptions.SendAsync(parse, UpdateMarketingPermissions.Queue,
                correlationId => UpdateMarketingPermissions.Create(correlationId, parse.GetValue(account)!,
                    parse.GetValue(permissions)!.Select(p => Parse(p)!.Value)),
                cancellationToken));

        return new Command("marketing-permissions", "Tulo Payway marketing permissions") { update };
    }

    static (string Id, bool Enabled)? Parse(string permission) =>
        permission.Split('=', 2) is [var id, var value] && id.Length > 0 && bool.TryParse(value, out var enabled)
            ? (id, enabled)
            : null;
}
