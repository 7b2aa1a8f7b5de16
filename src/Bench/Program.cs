using System.CommandLine;
using Bench;
using Hosting;
using Microsoft.Extensions.Configuration;

try
{
    // Exceptions come here rather than to System.CommandLine's handler, which prints every one with its stack trace.
    return await BenchCommand.Build().Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e)
{
    var configuration = new ConfigurationBuilder().AddEnvironmentVariables().Build();
    return StartupFailure.Report(e, configuration, "bench");
}
