using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Hosting;

/// <summary>
/// An expected reason not to start (a setting that is wrong, a server that does not answer, a port that is taken),
/// told to the operator in one line that names the setting to change, with an exit code of its own. Stack traces
/// are for the unexpected; for these they are logged at debug level only.
/// </summary>
public sealed class StartupFailure : Exception
{
    public StartupFailure(string message, int exitCode, Exception? cause = null) : base(message, cause)
    {
        ExitCode = exitCode;
        Raised = true;
    }

    /// <summary>
    /// Set once a start has been given up on: MassTransit then logs that it could not stop a bus it never started,
    /// which only hides the one line that matters (see <see cref="QuietMassTransitWhenGivenUp"/>).
    /// </summary>
    public static bool Raised { get; private set; }

    /// <summary>
    /// A failure seen beside the start rather than thrown through it (a refusal MassTransit reports to an observer
    /// while it retries): the program stops its host, and <see cref="Recognize"/> gives this failure for whatever
    /// the stopped start then throws.
    /// </summary>
    public static StartupFailure? Recorded { get; private set; }

    public static void Record(StartupFailure failure) => Recorded ??= failure;

    /// <summary>
    /// Drops MassTransit's logs once the start has been given up on: what it says then is about stopping a bus that
    /// never started. The rule replaces the configured one for the
    /// MassTransit category (the most specific rule wins), so it keeps that rule's level.
    /// </summary>
    public static void QuietMassTransitWhenGivenUp(LoggerFilterOptions options)
    {
        var configured = options.Rules.LastOrDefault(rule => rule is { CategoryName: "MassTransit", ProviderName: null });
        options.Rules.Add(new LoggerFilterRule(null, "MassTransit", configured?.LogLevel ?? options.MinLevel,
            (_, _, level) => (configured?.Filter is null || configured.Filter(null, "MassTransit", level))
                && !Raised));
    }

    /// <summary>EX_CONFIG: a setting or connection string is malformed or out of range.</summary>
    public const int BadSetting = 78;

    /// <summary>EX_UNAVAILABLE: the broker or the database did not answer, or refused the worker, at start.</summary>
    public const int ServiceUnavailable = 69;

    /// <summary>EX_IOERR: an address to listen on is taken or cannot be bound.</summary>
    public const int CannotListen = 74;

    /// <summary>EX_PROTOCOL: the broker's or the database's TLS certificate was refused (wrong name, untrusted, expired).</summary>
    public const int TlsRefused = 76;

    /// <summary>EX_NOPERM: the broker refused a virtual host or a permission the program needs.</summary>
    public const int NoPermission = 77;

    /// <summary>EX_SOFTWARE: anything unexpected; logged with its stack trace.</summary>
    public const int Unexpected = 70;

    public int ExitCode { get; }

    /// <summary>
    /// The expected start-up failure this exception stands for, if it is one; <paramref name="recognizeMore"/> knows
    /// a program's own (the worker's database, say).
    /// </summary>
    public static StartupFailure? Recognize(Exception exception, Func<Exception, StartupFailure?>? recognizeMore = null) => exception switch
    {
        StartupFailure failure => failure,
        AggregateException { InnerExceptions.Count: 1 } aggregate => Recognize(aggregate.InnerExceptions[0], recognizeMore),
        OptionsValidationException invalid => new StartupFailure(
            $"{string.Join("; ", invalid.Failures)}; {Setting(invalid.OptionsType)}", BadSetting, invalid),
        // Configuration binding: "Failed to convert configuration value at 'Storage:Lanes' to type 'System.Int32'."
        InvalidOperationException { InnerException: FormatException or InvalidCastException or OverflowException
            or ArgumentException } binding when binding.Message.Contains("configuration value") =>
            new StartupFailure(binding.Message.TrimEnd('.') + "; environment variables write ':' as '__'", BadSetting, binding),
        _ when Recorded is { } recorded => recorded,
        _ => recognizeMore?.Invoke(exception),
    };

    static string Setting(Type options) =>
        options.GetField("Section")?.GetValue(null) is string section
            ? $"change it under {section}: in appsettings.json or as {section}__<name> in the environment"
            : $"change the {options.Name} settings";

    /// <summary>
    /// Tells an operator why <paramref name="program"/> did not start: an expected failure in one line on standard
    /// error, its stack trace at debug level only; anything else logged in full. Returns the exit code.
    /// </summary>
    public static int Report(Exception exception, IConfiguration configuration, string program,
        Func<Exception, StartupFailure?>? recognizeMore = null)
    {
        using var loggers = LoggerFactory.Create(logging => logging
            .AddConfiguration(configuration.GetSection("Logging")).AddSimpleConsole());
        var logger = loggers.CreateLogger(program);
        if (Recognize(exception, recognizeMore) is not { } failure)
        {
            logger.LogCritical(exception, "{Program} stopped on an unexpected error", program);
            return Unexpected;
        }
        Console.Error.WriteLine($"{program}: {failure.Message}");
        logger.LogDebug(exception, "What stopped the start");
        return failure.ExitCode;
    }
}
