using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Hosting;

/// <summary>
/// The plain console format (<c>level: category[event]</c>, then the message indented), with every control character
/// of the message written as an escape (<c>\n</c>, <c>\u001b</c>): values from messages (a correlation id, say) cannot
/// start a line of their own and pass for another entry, nor drive the terminal. .NET's simple formatter writes them
/// raw. The JSON format (<c>Logging__Console__FormatterName=json</c>) escapes them by itself. A stack trace keeps its
/// lines.
/// </summary>
public sealed class PlainConsoleFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "plain";

    /// <summary>Makes it the console's format unless another (json, systemd) is chosen; <c>simple</c> means it too.</summary>
    public static void UseForConsole(ILoggingBuilder logging)
    {
        logging.AddConsoleFormatter<PlainConsoleFormatter, ConsoleFormatterOptions>();
        logging.Services.PostConfigure<ConsoleLoggerOptions>(options =>
        {
#pragma warning disable CS0618 // FormatterName is the supported way; only its old sibling options are obsolete.
            if (options.FormatterName is null or "" || options.FormatterName.Equals(ConsoleFormatterNames.Simple, StringComparison.OrdinalIgnoreCase))
                options.FormatterName = FormatterName;
#pragma warning restore CS0618
        });
    }

    public override void Write<TState>(in LogEntry<TState> entry, IExternalScopeProvider? scopeProvider, TextWriter writer)
    {
        var message = entry.Formatter(entry.State, entry.Exception);
        if (string.IsNullOrEmpty(message) && entry.Exception is null) return;
        writer.Write(Level(entry.LogLevel));
        writer.Write(": ");
        writer.Write(entry.Category);
        writer.Write('[');
        writer.Write(entry.EventId.Id);
        writer.WriteLine(']');
        if (!string.IsNullOrEmpty(message))
        {
            writer.Write("      ");
            writer.WriteLine(Escaped(message));
        }
        if (entry.Exception is not null)
        {
            writer.Write("      ");
            writer.WriteLine(entry.Exception.ToString().Replace(Environment.NewLine, Environment.NewLine + "      "));
        }
    }

    /// <summary>The text with each control character (and the Unicode line and paragraph separators) escaped.</summary>
    public static string Escaped(string text)
    {
        if (!text.Any(NeedsEscape)) return text;
        var escaped = new StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            if (!NeedsEscape(c)) escaped.Append(c);
            else if (c == '\n') escaped.Append("\\n");
            else if (c == '\r') escaped.Append("\\r");
            else escaped.Append("\\u").Append(((int)c).ToString("x4"));
        }
        return escaped.ToString();
    }

    static bool NeedsEscape(char c) => (char.IsControl(c) && c != '\t') || c is '\u2028' or '\u2029';

    static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => "none",
    };
}
