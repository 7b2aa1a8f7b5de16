// The fault tests stop and start servers and run worker processes; they and the other tests share two cores, so
// test collections run one after another rather than competing for them.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
