# hourly finance report
