using Microsoft.Extensions.Configuration;

namespace Hosting;

/// <summary>
/// Where the programs read settings beside appsettings.json and the environment: secrets from files, so that a
/// password never has to be an environment variable (readable in /proc by the process's user) or a command-line
/// argument (readable by everyone on the machine).
/// <list type="bullet">
/// <item>A key-per-file directory, <c>/run/secrets</c> unless <c>SECRETS_DIRECTORY</c> names another: a file
/// <c>ConnectionStrings__Postgres</c> there sets <c>ConnectionStrings:Postgres</c> (as Docker and Kubernetes mount
/// secrets).</item>
/// <item><c>&lt;KEY&gt;_FILE</c> variables: <c>ConnectionStrings__Postgres_FILE=/path</c> sets
/// <c>ConnectionStrings:Postgres</c> to that file's content.</item>
/// </list>
/// Both are added after the environment variables, so a value from a file wins; a trailing newline is dropped.
/// </summary>
public static class OperatorSettings
{
    public const string SecretsDirectoryVariable = "SECRETS_DIRECTORY";
    public const string DefaultSecretsDirectory = "/run/secrets";

    public static IConfigurationBuilder AddSecretFiles(this IConfigurationBuilder builder)
    {
        var directory = SecretsDirectory();
        if (Directory.Exists(directory))
        {
            builder.AddKeyPerFile(directory, optional: true);
        }
        else if (directory != DefaultSecretsDirectory)
        {
            throw new StartupFailure($"{SecretsDirectoryVariable}={directory} is not a directory", StartupFailure.BadSetting);
        }
        return builder.AddInMemoryCollection(FileVariables());
    }

    static string SecretsDirectory() =>
        Environment.GetEnvironmentVariable(SecretsDirectoryVariable) is { Length: > 0 } given ? given : DefaultSecretsDirectory;

    /// <summary>
    /// The settings named by <c>&lt;KEY&gt;_FILE</c> variables. Only sectioned keys (with <c>__</c>) count: they are
    /// the programs' own, while <c>SSL_CERT_FILE</c> and the like belong to others.
    /// </summary>
    static IEnumerable<KeyValuePair<string, string?>> FileVariables()
    {
        foreach (var entry in Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>())
        {
            var name = (string)entry.Key;
            if (!name.EndsWith("_FILE", StringComparison.Ordinal) || !name.Contains("__")) continue;
            var path = (string?)entry.Value ?? "";
            string content;
            try
            {
                content = File.ReadAllText(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new StartupFailure($"{name} names {path}, which cannot be read ({e.Message.TrimEnd('.')})",
                    StartupFailure.BadSetting, e);
            }
            yield return new(name[..^"_FILE".Length].Replace("__", ":"), content.TrimEnd('\r', '\n'));
        }
    }

    /// <summary>
    /// A connection string the operator must give. Only in Development (<c>DOTNET_ENVIRONMENT=Development</c>) does
    /// a missing one mean the local server of <c>make run</c>; anywhere else it ends the start, rather than quietly
    /// connecting to whatever listens on loopback with the default credentials.
    /// </summary>
    public static string RequiredConnectionString(IConfiguration configuration, string name, string developmentDefault,
        bool development)
    {
        if (configuration.GetConnectionString(name) is { Length: > 0 } given && !string.IsNullOrWhiteSpace(given))
            return given;
        if (development) return developmentDefault;
        throw new StartupFailure($"ConnectionStrings:{name} is not set; set ConnectionStrings__{name}, or " +
            $"ConnectionStrings__{name}_FILE to a file holding it, or put it in {SecretsDirectory()}/ConnectionStrings__{name} " +
            "(DOTNET_ENVIRONMENT=Development uses the local servers of make run)", StartupFailure.BadSetting);
    }

    /// <summary>Whether the program runs in Development: only when the environment says so explicitly.</summary>
    public static bool IsDevelopment(IConfiguration configuration) =>
        string.Equals(configuration["DOTNET_ENVIRONMENT"] ?? configuration["ASPNETCORE_ENVIRONMENT"]
            ?? Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT")
            ?? Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT"), "Development", StringComparison.OrdinalIgnoreCase);
}
